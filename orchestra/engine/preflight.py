"""Preflight: everything a cycle checks before the first task is claimed, so bad input stops
it with the fix and nothing moves (the queue reads, every prompt exists, every worker can run,
every OpenAI-compatible model API a worker's env names answers and takes the key)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from loguru import logger

from orchestra.agents import allowed_env, executable
from orchestra.agents.codex import provider_endpoint
from orchestra.config.models import WorkerProfile
from orchestra.engine.prompting import prompt_text
from orchestra.errors import ConfigError, ModelAPIError
from orchestra.project import Project
from orchestra.runtime import AgentView, view_of
from orchestra.runtime.pool import RuntimePool
from orchestra.secrets import redact
from orchestra.workspace.git import current_branch, ensure_excluded, git
from orchestra.workspace.shape import check_shape

if TYPE_CHECKING:
    import httpx


def prompt_names(project: Project, *, include_planner: bool = True) -> list[str]:
    """The prompt templates the workflow will render."""
    wf = project.config.workflows
    names = []
    if include_planner:
        names.append(project.worker(wf.infinite_orchestra.planner).prompt or "planner")
    for step in wf.roocode_boomerang.steps:
        names.append(step.prompt or project.worker(step.worker).prompt or step.id)
    return list(dict.fromkeys(names))


def check_worker(project: Project, runtimes: RuntimePool, worker_id: str, run_id: str) -> None:
    """Raise with the fix unless ``worker_id``'s runtime can start its agent."""
    profile = project.worker(worker_id)
    runtimes.get(profile, run_id).preflight(executable(profile.agent, profile.command))


def preflight(
    project: Project, runtimes: RuntimePool, run_id: str, *, include_planner: bool = True
) -> None:
    """Check the queue folder reads, the prompts exist and every worker can run, before
    anything is claimed; raises with the fix."""
    project.queue.pending()  # an unreadable queue_dir is bad input, like a bad config
    # Submodules, Git LFS, partial clones: refused with the reason before anything is claimed.
    check_shape(project.root, project.config.git.base_branch or current_branch(project.root))
    check_merge_target(project)
    for name in prompt_names(project, include_planner=include_planner):
        prompt_text(name)  # a misspelt prompt fails here, not in the middle of a task
    workers = project.workflow_workers(include_planner=include_planner)
    for worker_id in workers:
        check_worker(project, runtimes, worker_id, run_id)
    # Last: a model API unreachable or refusing the key stops the cycle before any claim.
    check_model_apis(project, workers)


def check_merge_target(project: Project) -> None:
    """With ``integration: merge`` and no ``base_branch``, HEAD must be on a branch.

    A detached HEAD has no branch to fast-forward: the base would be a commit hash, and the
    merge would create a branch named after it.
    """
    cfg = project.config.git
    if cfg.integration != "merge" or cfg.base_branch:
        return
    if git(project.root, "symbolic-ref", "-q", "HEAD", check=False):
        return
    head = git(project.root, "rev-parse", "--short", "HEAD", check=False) or "?"
    msg = (
        f"HEAD is detached (at {head}) in {str(project.root)!r}, and git.integration is merge: "
        "there is no branch to fast-forward. Check out a branch (`git switch <branch>`), set "
        "git.base_branch, or use git.integration: branch"
    )
    raise ConfigError(msg)


#: Our state folder, kept out of the user's `git status` through `.git/info/exclude`.
STATE_EXCLUDES = (".orchestra/",)


def exclude_state(project: Project) -> None:
    """Add `.orchestra/` to the repository's `.git/info/exclude` (not a tracked file), once."""
    ensure_excluded(project.root, STATE_EXCLUDES)


# --- The model API a worker's agent will call -------------------------------------------------

#: Variables that point an agent at an OpenAI-compatible API, in the order they are looked at.
BASE_URL_VARS = ("OPENAI_API_BASE", "OPENAI_BASE_URL")
#: The key sent with the probe: codex reads its own variable first; claude an API key, a gateway
#: token or a subscription token.
KEY_VARS = {
    "codex": ("CODEX_API_KEY", "OPENAI_API_KEY"),
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
}
#: Claude Code's endpoint: the Anthropic Messages API root (no ``/v1``; the probe adds it).
ANTHROPIC_BASE_VAR = "ANTHROPIC_BASE_URL"
DEFAULT_KEY_VARS = ("OPENAI_API_KEY",)
#: Seconds the probe waits for a connection and for the answer.
PROBE_TIMEOUT = 5.0
_REFUSED = (401, 403)


@dataclass(frozen=True)
class ModelAPI:
    """Where one worker's agent sends its requests, as the step will see it."""

    worker: str
    base_var: str
    base_url: str  # as configured
    probe_url: str  # what we connect to (the URL as the step dials it, where that resolves)
    key_vars: tuple[str, ...]  # where the agent reads its key
    key_var: str | None  # the one that is set
    key: str | None
    proxy: str | None


def model_api(
    worker_id: str, profile: WorkerProfile, env: Mapping[str, str], view: AgentView | None = None
) -> ModelAPI | None:
    """The OpenAI-compatible API ``profile``'s step env names, or None (the provider default,
    or a step without a network): then nothing is probed. ``view``: the step's runtime's
    (default: the profile's)."""
    names = (ANTHROPIC_BASE_VAR,) if profile.agent == "claude" else BASE_URL_VARS
    base_var = next((v for v in names if env.get(v, "").strip()), None)
    key_vars = KEY_VARS.get(profile.agent, DEFAULT_KEY_VARS)
    endpoint = provider_endpoint(profile.cli.config, env) if profile.agent == "codex" else None
    if endpoint is not None:  # codex calls its provider, whatever else the env names
        base_url, base_var, key_name = endpoint
        key_vars = (key_name,) if key_name else key_vars
    elif base_var is None:
        return None
    else:
        base_url = env[base_var].strip()
    if base_var == ANTHROPIC_BASE_VAR:
        base_url = base_url.rstrip("/") + "/v1"
    seen = (view or view_of(profile.runtime)).url(base_url)
    if seen is None:
        return None
    probe_url = _reachable_here(seen, base_url)
    key_var = next((v for v in key_vars if env.get(v)), None)
    if key_var is None and profile.cli.auth_file:
        return None  # the step signs in with the copied login, which the probe does not send
    return ModelAPI(
        worker=worker_id,
        base_var=base_var,
        base_url=base_url,
        probe_url=probe_url,
        key_vars=key_vars,
        key_var=key_var,
        key=env.get(key_var) if key_var else None,
        proxy=_proxy_for(probe_url, env),
    )


def _reachable_here(seen: str, url: str) -> str:
    """What to probe: the URL as the step dials it (``seen``) when its host resolves here too
    (Orchestra itself in a container, e.g. the Compose worker); else the host's own ``url``
    (the name the step has for the host, e.g. its loopback, leads back here)."""
    if seen == url:
        return url
    try:
        socket.getaddrinfo(urlsplit(seen).hostname or "", None)
    except OSError:
        return url
    return seen


def _proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy the step's own environment gives for ``url`` (the host's is not the step's)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    no_proxy = env.get("NO_PROXY", env.get("no_proxy", ""))
    for entry in filter(None, (e.strip().lower().lstrip(".") for e in no_proxy.split(","))):
        if entry in {"*", host} or host.endswith("." + entry):
            return None
    scheme = parts.scheme.lower()
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if env.get(name):
            return env[name]
    return None


def _shown(url: str) -> str:
    """``url`` without user:password@ (a message never carries a credential)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def probe_model_api(
    api: ModelAPI,
    timeout: float = PROBE_TIMEOUT,
    *,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """GET {base}/models with the key: raise ModelAPIError naming the URL, the variable and
    the fix when it cannot be reached, does not answer in ``timeout`` or refuses the key.
    Any other answer (200, or 404 from an API without /models) lets the cycle go on.

    ``transport``: how the request travels (default: a connection, through ``api.proxy``); a
    given transport is used as it is, the proxy is then its business."""
    import httpx

    where = f"worker {api.worker!r}: the model API {_shown(api.base_url)} ({api.base_var})"
    if api.probe_url != api.base_url:
        where += f", reached as {_shown(api.probe_url)} from the step's container,"
    headers = {"Authorization": f"Bearer {api.key}"} if api.key else {}
    if api.key and api.key_var == "ANTHROPIC_API_KEY":
        headers = {"x-api-key": api.key, "anthropic-version": "2023-06-01"}
    url = api.probe_url.rstrip("/") + "/models"
    try:
        proxy = api.proxy if transport is None else None
        with httpx.Client(
            timeout=timeout, trust_env=False, proxy=proxy, transport=transport
        ) as client:
            response = client.get(url, headers=headers)
    except httpx.TimeoutException as exc:
        msg = (
            f"{where} did not answer within {timeout:g} s ({type(exc).__name__}): check that "
            f"the server at {api.base_var} is up and not overloaded, or fix {api.base_var}"
        )
        raise ModelAPIError(msg) from exc
    except httpx.HTTPError as exc:
        msg = (
            f"{where} is unreachable ({type(exc).__name__}: {exc}): start it, or fix "
            f"{api.base_var} in the worker's env or pass_env"
        )
        raise ModelAPIError(msg) from exc
    if response.status_code in _REFUSED:
        said = redact(response.text.strip().replace("\n", " ")[:200])
        if api.key_var:
            fix = f"the key in {api.key_var} was refused: set a valid key"
        else:
            names = " or ".join(api.key_vars)
            fix = f"no key was sent: set {names} (env, or pass_env)"
        msg = f"{where} answered HTTP {response.status_code} ({said}); {fix}"
        raise ModelAPIError(msg)
    # In the cycle's log (JSONL and the run's): which API was checked, the way the steps reach it.
    logger.info("{}: GET {} answered HTTP {}", where, _shown(url), response.status_code)


def check_model_apis(
    project: Project,
    worker_ids: Iterable[str],
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Probe each distinct model API the workers' steps will call, once. ``environ`` is what
    ``pass_env`` reads from (default: this process's environment); ``transport`` as in
    :func:`probe_model_api`."""
    host_env = os.environ if environ is None else environ
    seen: set[tuple[str, str | None, str | None]] = set()
    for worker_id in worker_ids:
        profile = project.worker(worker_id)
        env = dict(allowed_env(host_env, list(profile.pass_env)))
        env.update(profile.env)
        api = model_api(worker_id, profile, env)
        if api is None or (api.probe_url, api.key, api.proxy) in seen:
            continue
        seen.add((api.probe_url, api.key, api.proxy))
        probe_model_api(api, transport=transport)
