"""The prompts Orchestra gives its agents, shipped as ``string.Template`` files.

Each file in the ``orchestra.engine.prompts`` package (``planner.md``, ``plan.md``, ``implement.md``,
``review.md``, ``fix.md``) starts with machine-readable lines (``Role:``, ``Step:``,
``Workspace:``, ``Output folder:``) and asks the agent to end with a handoff report in
``<output folder>/handoff.md``. Placeholders are ``$name``; a literal dollar is ``$$``.
"""

from __future__ import annotations

from importlib import resources
from string import Template

from orchestra.errors import ConfigError

#: The prompts that ship with Orchestra, by name (file name without ``.md``).
PROMPT_NAMES: tuple[str, ...] = ("planner", "plan", "implement", "review", "fix", "resolve")


_PACKAGE = "orchestra.engine.prompts"


def prompt_text(name: str) -> str:
    """The raw template text of the prompt ``name`` (``"plan"`` or ``"plan.md"``)."""
    stem = name.removesuffix(".md")
    resource = resources.files(_PACKAGE).joinpath(f"{stem}.md")
    if not stem or "/" in stem or "\\" in stem or not resource.is_file():
        msg = f"no prompt named {name!r}; the built-in prompts are {', '.join(PROMPT_NAMES)}"
        raise ConfigError(msg)
    return resource.read_text(encoding="utf-8")


def prompt_placeholders(name: str) -> set[str]:
    """The ``$name`` placeholders the prompt ``name`` needs."""
    return set(Template(prompt_text(name)).get_identifiers())


def render_prompt(name: str, **values: object) -> str:
    """The prompt ``name`` with every ``$placeholder`` replaced by ``str(values[placeholder])``.

    A placeholder without a value, or a malformed ``$``, raises :class:`ConfigError` naming the
    prompt and the placeholder. Extra values are ignored, so callers may pass a common set.
    """
    template = Template(prompt_text(name))
    try:
        return template.substitute({key: str(value) for key, value in values.items()})
    except KeyError as exc:
        placeholder = exc.args[0]
        msg = (
            f"prompt {name!r} needs a value for ${placeholder}; "
            f"pass {placeholder}=... to render_prompt"
        )
        raise ConfigError(msg) from exc
    except ValueError as exc:
        msg = f"prompt {name!r} has a malformed placeholder ({exc}); write a literal $ as $$"
        raise ConfigError(msg) from exc


__all__ = ["PROMPT_NAMES", "prompt_placeholders", "prompt_text", "render_prompt"]
