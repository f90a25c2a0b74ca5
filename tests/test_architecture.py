"""The dependency rule of docs/architecture.md, checked through every import (also the lazy ones
inside functions), so the layout cannot rot: lower layers never import higher ones, rooms on one
layer never import each other, and only orchestra/prefect/ and flows/ import Prefect."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Lowest first. A module may import its own room and any room on a lower layer.
LAYERS: list[list[str]] = [
    ["orchestra.errors"],
    ["orchestra.clock", "orchestra.paths", "orchestra.secrets"],
    ["orchestra.config"],
    [
        "orchestra.queue",
        "orchestra.agents",
        "orchestra.runtime",
        "orchestra.workspace",
        "orchestra.memory",
    ],
    ["orchestra.project"],
    ["orchestra.policy"],
    ["orchestra.engine", "orchestra.upkeep"],
    ["orchestra.report", "orchestra.testing"],
    ["orchestra.prefect"],
    ["orchestra.cli"],
    ["flows"],
    ["deployments"],
]
PREFECT_ROOMS = ("orchestra.prefect", "flows", "deployments")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> list[Path]:
    rooms = ("orchestra", "flows", "deployments")
    return sorted(p for room in rooms for p in (REPO / room).rglob("*.py"))


def _room(module: str) -> tuple[int, str]:
    if module == "orchestra":
        return 0, "orchestra"  # the package's own __init__: imports nothing
    for rank, rooms in enumerate(LAYERS):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                return rank, room
    msg = f"{module} is in no layer of tests/test_architecture.py; add its room to LAYERS"
    raise AssertionError(msg)


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from orchestra.runtime import sandbox` imports a submodule
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _is_module(name: str) -> bool:
    path = REPO / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
class TestLayers:
    def test_imports_point_down(self, path: Path) -> None:
        """Every orchestra/flows import goes to the module's own room or a lower layer."""
        module = _module_name(path)
        rank, room = _room(module)
        wrong = []
        for line, name in _imports(path):
            if not name.startswith(("orchestra.", "flows", "deployments")) or not _is_module(name):
                continue
            other_rank, other_room = _room(name)
            if other_room != room and other_rank >= rank:
                wrong.append(f"line {line}: {name} ({other_room}, layer {other_rank})")
        assert not wrong, f"{module} (layer {rank}) imports upward or sideways: {wrong}"

    def test_only_the_prefect_rooms_import_prefect(self, path: Path) -> None:
        """Prefect and prefect-docker are imported only under orchestra/prefect/ and flows/."""
        module = _module_name(path)
        if module.startswith(PREFECT_ROOMS):
            return
        found = [
            f"line {line}: {name}"
            for line, name in _imports(path)
            if name.split(".")[0] in {"prefect", "prefect_docker"}
        ]
        assert not found, f"{module} imports Prefect: {found}"

    def test_module_is_small_and_says_what_it_owns(self, path: Path) -> None:
        """At most 400 lines, and a docstring that says what the module owns."""
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= MAX_LINES, f"{path.name}: {len(text.splitlines())} lines"
        assert ast.get_docstring(ast.parse(text)), f"{path} has no module docstring"


def test_every_room_is_documented() -> None:
    """docs/architecture.md names every room of the tree."""
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    rooms = {p.name for p in (REPO / "orchestra").iterdir() if (p / "__init__.py").exists()}
    missing = sorted(r for r in rooms if f"orchestra/{r}/" not in page)
    assert not missing, f"docs/architecture.md does not mention {missing}"


def _runtime_kinds() -> set[str]:
    from typing import get_args

    from orchestra.config.runtimes import RuntimeSettings

    union = get_args(RuntimeSettings)[0]
    return {arm.model_fields["kind"].default for arm in get_args(union)}


RUNTIME_KINDS = _runtime_kinds()
#: The rooms that may know the runtimes by kind: the runtimes themselves and their configs.
RUNTIME_ROOMS = ("orchestra.runtime", "orchestra.config")
#: The runtime package's face: what the rest may import from orchestra.runtime.<module>.
RUNTIME_FACE = {"base", "view", "pool", "output"}


def _names_a_runtime_kind(tree: ast.AST) -> list[str]:
    """Comparisons with a kind ("docker"), attributes named for one (``profile.docker``) and
    imports of a runtime's own module or classes (``orchestra.runtime.sandbox``,
    ``DockerConfig``): everything else asks the runtime package's face."""
    kinds = RUNTIME_KINDS
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Constant) and side.value in kinds:
                    found.append(f"line {node.lineno}: compares with {side.value!r}")
        elif isinstance(node, ast.MatchValue):
            if isinstance(node.value, ast.Constant) and node.value.value in kinds:
                found.append(f"line {node.lineno}: matches {node.value.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in kinds:
            found.append(f"line {node.lineno}: attribute .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("orchestra."):
            module = node.module or ""
            inner = module.removeprefix("orchestra.runtime.").split(".")[0]
            if module.startswith("orchestra.runtime.") and inner not in RUNTIME_FACE:
                found.append(f"line {node.lineno}: imports {module}, a runtime's own module")
            parts = {f"{k.capitalize()}{s}" for k in kinds for s in ("Config", "Runtime", "View")}
            if named := sorted(a.name for a in node.names if a.name in parts):
                found.append(f"line {node.lineno}: imports {named} (a runtime's own parts)")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_runtime_room_names_a_runtime_kind(path: Path) -> None:
    """Outside orchestra/runtime/ (and the config classes), nothing branches on a runtime's
    kind: the engine, preflight, upkeep and doctor ask the runtime (its AgentView), so a new
    runtime is one module plus one config class."""
    module = _module_name(path)
    if module.startswith(RUNTIME_ROOMS):
        return
    found = _names_a_runtime_kind(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{module} names a runtime kind: {found}"


def test_the_kind_rule_catches_what_it_is_for() -> None:
    """The rule itself bites: the branches this layout replaced would each be found."""
    old = (
        'if profile.runtime == "docker" and profile.docker is not None: pass\n'
        "from orchestra.runtime.sandbox import CONTAINER_OUTPUT_DIR\n"
        "from orchestra.runtime.docker import sdk_client\n"
        "from orchestra.config.models import DockerConfig\n"
    )
    found = _names_a_runtime_kind(ast.parse(old))
    assert len(found) == 5, found
    assert _names_a_runtime_kind(ast.parse("runtime.view.where()\nrun(type='process')\n")) == []


def _tree_sections() -> dict[str, str]:
    """The tree drawn in docs/architecture.md, by entry: ``orchestra/engine/`` → its text."""
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = page.split("## The tree", 1)[1].split("```", 2)[1]
    sections: dict[str, str] = {}
    entry = ""
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and indent in (0, 2):  # an entry: `flows/` or `  engine/`
            name = line.split()[0]
            entry = name if indent == 0 else f"orchestra/{name}"
            sections[entry] = line
        elif entry:
            sections[entry] += "\n" + line
    return sections


def _named_in(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w/.]){re.escape(name)}(?![\w])", text) is not None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_module_is_in_the_tree(path: Path) -> None:
    """The tree in docs/architecture.md names every module: a top-level module as an entry of
    its own, any other in its room's entry (a sub-package as ``name/``)."""
    parts = path.relative_to(REPO).parts
    if parts[-1] == "__init__.py" and len(parts) <= 3:
        return  # a room (or the package itself): test_every_room_is_documented
    sections = _tree_sections()
    if parts[0] == "orchestra" and len(parts) == 2:
        assert f"orchestra/{parts[1]}" in sections, f"the tree has no entry {parts[1]}"
        return
    room = f"{parts[0]}/" if parts[0] != "orchestra" else f"orchestra/{parts[1]}/"
    name = f"{parts[2]}/" if parts[-1] == "__init__.py" else parts[-1]
    if len(parts) > 3 and parts[-1] != "__init__.py":
        name = f"{parts[2]}/"  # a module of a sub-package: the sub-package is named
    assert room in sections, f"the tree has no entry {room}"
    assert _named_in(sections[room], name), f"the tree's {room} entry does not name {name}"
