"""The ops stack (docker/compose.yaml) against its files, its docs, the logger and the image.

- the compose file validates with the real ``docker compose`` / ``docker-compose`` (fails in CI
  when neither is installed, skips with the reason elsewhere);
- every file it refers to exists, every published port binds to 127.0.0.1 and is documented in
  docs/docker.md, every env name it uses is documented;
- the LOG CONTRACT: the real logger (``orchestra.logging``) writes lines that the Alloy pipeline
  (docker/alloy/config.alloy, read as text) parses completely: every field written is extracted,
  nothing else is, the timestamp parses with Go's RFC 3339 layout, the labels are exactly
  ``level`` and ``source``;
- the orchestrator image ``orchestra-orchestrator:test`` (scripts/build-orchestrator-image.sh)
  runs ``orchestra --help`` and ``prefect version``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from loguru import logger

from orchestra.report import log as olog

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCS = REPO / "docs" / "docker.md"
ALLOY_CONFIG = DOCKER_DIR / "alloy" / "config.alloy"
GRAFANA_DIR = DOCKER_DIR / "grafana" / "provisioning"
ORCHESTRATOR_DOCKERFILE = DOCKER_DIR / "orchestrator" / "Dockerfile"
IMAGE = "orchestra-orchestrator:test"
BUILD_SCRIPT = "scripts/build-orchestrator-image.sh"

PROFILES = ("core", "memory", "logs")
SERVICES = {
    "prefect-server": "core",
    "orchestra-worker": "core",
    "neo4j": "memory",
    "loki": "logs",
    "alloy": "logs",
    "grafana": "logs",
}
#: The fields of a log line, from docs (DESIGN "Log line"): the logger must write all of them.
DESIGN_FIELDS = {
    "timestamp",
    "level",
    "message",
    "source",
    "flow_run_id",
    "task_run_id",
    "task_id",
    "step",
    "worker",
}
LEVELS = {"debug", "info", "warning", "error", "critical"}
LABELS = {"level", "source"}
#: What Go's time.Parse(time.RFC3339, s) accepts (a fractional second is allowed when parsing).
GO_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
#: URLs a user types, as docs/docker.md must spell them.
DOC_URLS = (
    "http://127.0.0.1:4200",
    "http://127.0.0.1:4200/api",
    "http://127.0.0.1:7474",
    "bolt://localhost:7687",
    "bolt://neo4j:7687",
    "http://127.0.0.1:3100",
    "http://127.0.0.1:12345",
    "http://127.0.0.1:3000",
)
_VAR = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def _unavailable(reason: str) -> None:
    """Fail in CI (env CI set), skip with the reason elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _compose_command() -> list[str] | None:
    if shutil.which("docker") and _run(["docker", "compose", "version"], 30).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _substitute(value: str) -> str:
    """``${NAME:-default}`` → ``default`` (what Compose does when NAME is unset)."""
    return _VAR.sub(lambda m: m.group(2) or "", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def docs() -> str:
    assert DOCS.is_file(), f"{DOCS.relative_to(REPO)} is missing"
    return DOCS.read_text(encoding="utf-8")


def _bind_mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(source, target, mode) of every short-syntax volume whose source is a path."""
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        parts = _substitute(entry).split(":")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        if source.startswith(("/", ".")):
            yield source, target, mode


def _named_volumes(service: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for entry in service.get("volumes", []):
        parts = _substitute(entry).split(":")
        if not parts[0].startswith(("/", ".")):
            yield parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping syntax for environment"
    return {k: str(v) for k, v in env.items()}


# --- (1) the real compose tool ------------------------------------------------------------------


@pytest.mark.parametrize("profiles", [PROFILES, *[(p,) for p in PROFILES]], ids="+".join)
def test_compose_config_is_valid(profiles: tuple[str, ...]) -> None:
    command = _compose_command()
    if command is None:
        _unavailable("neither `docker compose` nor `docker-compose` is installed")
        return
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = _run([*command, *flags, "-f", str(COMPOSE_FILE), "config"])
    assert result.returncode == 0, f"{' '.join(command)} config failed:\n{result.stderr}"
    resolved = yaml.safe_load(result.stdout)
    expected = {name for name, profile in SERVICES.items() if profile in profiles}
    assert expected <= set(resolved["services"]), result.stdout


# --- (2) every referenced file exists ------------------------------------------------------------


def test_services_profiles_restart_and_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == set(SERVICES)
    for name, service in services.items():
        assert service.get("profiles") == [SERVICES[name]], name
        assert service.get("restart") in {"unless-stopped", "always"}, name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        image = _VAR.sub(lambda m: m.group(2) or "", service.get("image", ""))  # the default
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        if name != "orchestra-worker":
            assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"
    # PREFECT_SERVER_IMAGE may name another image with Prefect 3.8.8 (ours, without a registry).
    server_image = services["prefect-server"]["image"]
    assert server_image == "${PREFECT_SERVER_IMAGE:-prefecthq/prefect:3.8.8-python3.11}"
    assert services["neo4j"]["image"] == "neo4j:5.26-community"
    assert re.fullmatch(r"grafana/loki:3\.\d+\.\d+", services["loki"]["image"])
    assert re.fullmatch(r"grafana/alloy:v\d+\.\d+\.\d+", services["alloy"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"])


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {src for s in compose["services"].values() for src, _, _ in _named_volumes(s)}
    assert used == declared
    assert "orchestra-logs" in used


def test_referenced_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if build := service.get("build"):
            context = (DOCKER_DIR / _substitute(build["context"])).resolve()
            assert context.is_dir(), f"{name}: build context {context} is missing"
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        mounted: dict[str, Path] = {}
        for source, target, _ in _bind_mounts(service):
            if source.startswith("/"):
                # Host paths outside the repository: only the Docker socket, checked below.
                assert source == "/var/run/docker.sock", f"{name}: unexpected host path {source}"
                continue
            path = (DOCKER_DIR / source).resolve()
            assert path.exists(), f"{name}: bind-mount source {source} ({path}) is missing"
            mounted[target] = path
        # Config files named on the command line come from a mount that exists.
        command = service.get("command", [])
        for arg in command if isinstance(command, list) else command.split():
            value = arg.split("=", 1)[-1]
            if re.fullmatch(r"/etc/\S+\.(ya?ml|alloy)", value):
                assert value in mounted and mounted[value].is_file(), (
                    f"{name}: {value} is not a mounted file"
                )


def test_orchestrator_build_inputs(services: dict[str, dict[str, Any]]) -> None:
    build = services["orchestra-worker"]["build"]
    assert (DOCKER_DIR / build["context"]).resolve() == REPO
    assert build["dockerfile"] == "docker/orchestrator/Dockerfile"
    text = ORCHESTRATOR_DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text
    assert "python3 -m venv /opt/orchestra" in text
    assert "pip install -c constraints.txt ." in text
    assert re.search(r"^USER orchestra$", text, re.MULTILINE)
    assert 'CMD ["prefect", "worker", "start", "--pool", "orchestra", "--type", "process"]' in text
    for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE):
        for source in line.split()[:-1]:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is missing"
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv/", ".git/", ".orchestra/", ".demo/"):
        assert entry in ignored, f".dockerignore does not exclude {entry}"
    assert (REPO / BUILD_SCRIPT).is_file()
    assert os.access(REPO / BUILD_SCRIPT, os.X_OK), f"{BUILD_SCRIPT} is not executable"


def test_only_the_orchestrator_gets_the_docker_socket(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        has_socket = any("docker.sock" in str(v) for v in service.get("volumes", []))
        assert has_socket == (name == "orchestra-worker"), name


def test_worker_wiring(services: dict[str, dict[str, Any]]) -> None:
    worker = services["orchestra-worker"]
    env = _env(worker)
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert env["LOG_FILE"] == "/var/log/orchestra/orchestra.jsonl"
    assert env["NEO4J_URI"] == "bolt://neo4j:7687"
    assert env["NEO4J_DATABASE"] == "neo4j"
    assert _substitute(env["NEO4J_USERNAME"]) and _substitute(env["NEO4J_PASSWORD"])
    assert worker["command"][3:5] == ["--pool", "orchestra"]
    assert "${ORCHESTRA_PROJECT:-..}:/project" in worker["volumes"]
    assert ("..", "/project", "rw") in set(_bind_mounts(worker))
    logs_dir = str(Path(env["LOG_FILE"]).parent)
    assert ("orchestra-logs", logs_dir, "rw") in set(_named_volumes(worker))
    # Alloy reads the same volume at the same path, read-only.
    assert ("orchestra-logs", logs_dir, "ro") in set(_named_volumes(services["alloy"]))
    server_env = _env(services["prefect-server"])
    assert server_env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert _substitute(server_env["PREFECT_UI_API_URL"]) == "http://127.0.0.1:4200/api"
    assert server_env["PREFECT_HOME"] == "/root/.prefect"
    assert ("prefect-data", "/root/.prefect", "rw") in set(
        _named_volumes(services["prefect-server"])
    )
    assert _substitute(env["PREFECT_UI_URL"]) == "http://127.0.0.1:4200"
    # The host as step containers see it, for the preflight's probe of a model API on the host.
    assert "host.docker.internal:host-gateway" in worker["extra_hosts"]
    assert "--host" in services["prefect-server"]["command"]


# --- (3) ports and env names match the docs -------------------------------------------------------


def test_ports_bind_to_loopback_and_are_documented(
    services: dict[str, dict[str, Any]], docs: str
) -> None:
    published = []
    for name, service in services.items():
        for entry in service.get("ports", []):
            assert isinstance(entry, str), f"{name}: use the short port syntax"
            parts = _substitute(entry).split(":")
            assert len(parts) == 3 and parts[0] == "127.0.0.1", (
                f"{name}: port {entry!r} is not bound to 127.0.0.1"
            )
            host_port = parts[1]
            published.append(host_port)
            assert re.search(rf"(?<![\d.]){host_port}(?!\d)", docs), (
                f"{name}: port {host_port} is not in docs/docker.md"
            )
    assert sorted(published, key=int) == ["3000", "3100", "4200", "7474", "7687", "12345"]
    for url in DOC_URLS:
        assert url in docs, f"docs/docker.md does not give {url}"


def test_env_names_are_documented(docs: str) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    compose = yaml.safe_load(text)
    names = set(_VAR.findall(text) and [m[0] for m in _VAR.findall(text)])
    for service in compose["services"].values():
        names |= set(_env(service))
    missing = sorted(n for n in names if not re.search(rf"(?<!\w){n}(?!\w)", docs))
    assert not missing, (
        f"env names used in docker/compose.yaml but not in docs/docker.md: {missing}"
    )


# --- (4) the log contract: logger ↔ Alloy ---------------------------------------------------------


def _strip_comments(text: str) -> str:
    """Drop ``//`` and ``/* */`` comments of the Alloy syntax, leaving strings alone."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _blocks(text: str, header: str) -> list[str]:
    """Bodies of every block whose header matches ``header`` (a regex), braces balanced."""
    bodies = []
    for match in re.finditer(rf"{header}\s*\{{", text):
        depth, start = 1, match.end()
        i = start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        bodies.append(text[start : i - 1])
    return bodies


def _map(body: str, attribute: str) -> dict[str, str]:
    """``attribute = { key = "value", ... }`` inside a block body."""
    (inner,) = _blocks(body, rf"(?<!\w){attribute}\s*=")
    pairs = re.findall(r'"?([\w.]+)"?\s*=\s*"([^"]*)"', inner)
    leftover = re.sub(r'"?[\w.]+"?\s*=\s*"[^"]*"|[\s,]', "", inner)
    assert not leftover, f"cannot read {attribute}: {inner!r}"
    return dict(pairs)


def _string(body: str, attribute: str) -> str:
    match = re.search(rf'(?<![\w.]){attribute}\s*=\s*"([^"]*)"', body)
    assert match, f"{attribute} is missing in {body!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def alloy() -> str:
    return _strip_comments(ALLOY_CONFIG.read_text(encoding="utf-8"))


@pytest.fixture
def logged_lines(tmp_path: Path) -> list[dict[str, Any]]:
    """Lines written by the real logger: every level, with and without the context fields."""
    log_file = tmp_path / "logs" / "orchestra.jsonl"
    olog.setup_logging(log_file, level="debug", console_level=None)
    try:
        context = {name: f"{name}-value" for name in olog.CONTEXT_FIELDS}
        context |= {"task_id": "task-03", "step": "implement", "worker": "coder"}
        bound = logger.bind(**context)
        bound.debug("debug line")
        bound.info("info line")
        bound.success("success line")
        bound.warning("warning line")
        bound.error("error line")
        bound.critical("critical line")
        logger.bind(task_id="task-04").info("only a task id")
        logger.info("no context at all")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.bind(task_id="task-03").exception("with a traceback")
    finally:
        olog.reset_logging()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 9
    return [json.loads(line) for line in lines]


def test_logger_writes_the_design_fields(logged_lines: list[dict[str, Any]]) -> None:
    written = set().union(*logged_lines)
    assert written == DESIGN_FIELDS
    assert {line["level"] for line in logged_lines} == LEVELS
    for line in logged_lines:
        assert {"timestamp", "level", "message", "source"} <= set(line)


def test_alloy_extracts_exactly_what_the_logger_writes(
    alloy: str, logged_lines: list[dict[str, Any]]
) -> None:
    (process,) = _blocks(alloy, r'loki\.process\s+"\w+"')
    (json_stage,) = _blocks(process, r"stage\.json")
    expressions = _map(json_stage, "expressions")
    # An empty expression means "the key itself" (Alloy's stage.json).
    paths = {name: expr or name for name, expr in expressions.items()}
    assert all(name == path for name, path in paths.items()), (
        f"extract each field under its own name: {paths}"
    )
    written = set().union(*logged_lines)
    extracted = set(paths.values())
    assert not written - extracted, f"the logger writes, Alloy drops: {written - extracted}"
    assert not extracted - written, (
        f"Alloy extracts, the logger never writes: {extracted - written}"
    )


def test_alloy_timestamp_parses_the_logged_timestamps(
    alloy: str, logged_lines: list[dict[str, Any]]
) -> None:
    (process,) = _blocks(alloy, r'loki\.process\s+"\w+"')
    (stage,) = _blocks(process, r"stage\.timestamp")
    expressions = _map(_blocks(process, r"stage\.json")[0], "expressions")
    source, layout = _string(stage, "source"), _string(stage, "format")
    assert (expressions.get(source) or source) == "timestamp"
    assert layout in {"RFC3339", "RFC3339Nano"}
    now = datetime.now(UTC)
    for line in logged_lines:
        stamp = line["timestamp"]
        assert GO_RFC3339.match(stamp), f"{stamp!r} does not parse with Go's {layout}"
        assert stamp.endswith("Z") and re.search(r"\.\d{3}Z$", stamp), stamp
        moment = datetime.fromisoformat(stamp)
        assert moment.utcoffset() == timedelta(0)
        assert abs(now - moment) < timedelta(minutes=5)


def test_alloy_labels_are_level_and_source_only(
    alloy: str, logged_lines: list[dict[str, Any]]
) -> None:
    (process,) = _blocks(alloy, r'loki\.process\s+"\w+"')
    expressions = _map(_blocks(process, r"stage\.json")[0], "expressions")
    (labels_stage,) = _blocks(process, r"stage\.labels")
    labels = {name: src or name for name, src in _map(labels_stage, "values").items()}
    assert set(labels) == LABELS
    assert all(src in expressions for src in labels.values())
    for other in ("stage.static_labels", "stage.label_keep", "stage.labels_from"):
        assert other not in process, f"{other} would add or keep other labels"
    # loki.source.file adds `filename`; the pipeline drops it.
    (drop,) = _blocks(process, r"stage\.label_drop")
    assert "filename" in re.findall(r'"([^"]+)"', drop)
    # The file targets carry no labels of their own (only internal __ ones).
    (match,) = _blocks(alloy, r'local\.file_match\s+"\w+"')
    target_keys = re.findall(r'"([\w.]+)"\s*=', match)
    assert target_keys and all(key.startswith("__") for key in target_keys), target_keys
    # What Loki would index for each logged line: exactly level and source, from the line.
    for line in logged_lines:
        stream = {label: line[src] for label, src in labels.items()}
        assert stream["level"] in LEVELS
        assert stream["source"]


def test_alloy_reads_log_file_and_pushes_to_loki(
    alloy: str, services: dict[str, dict[str, Any]]
) -> None:
    (match,) = _blocks(alloy, r'local\.file_match\s+"\w+"')
    path = _string(match, '"?__path__"?')
    assert path == _env(services["orchestra-worker"])["LOG_FILE"]
    (write,) = _blocks(alloy, r'loki\.write\s+"\w+"')
    assert _string(write, "url") == "http://loki:3100/loki/api/v1/push"
    (source,) = _blocks(alloy, r'loki\.source\.file\s+"\w+"')
    assert re.search(r"forward_to\s*=\s*\[\s*loki\.process\.\w+\.receiver\s*\]", source)
    config_mount = [t for _, t, _ in _bind_mounts(services["alloy"]) if t.endswith(".alloy")]
    assert config_mount == ["/etc/alloy/config.alloy"]


# --- Grafana provisioning -------------------------------------------------------------------------


def test_grafana_provisioning(services: dict[str, dict[str, Any]]) -> None:
    datasources = yaml.safe_load((GRAFANA_DIR / "datasources" / "loki.yaml").read_text())
    (loki,) = datasources["datasources"]
    assert loki["type"] == "loki"
    assert loki["url"] == "http://loki:3100"
    providers = yaml.safe_load((GRAFANA_DIR / "dashboards" / "dashboards.yaml").read_text())
    (provider,) = providers["providers"]
    (target,) = [
        t for s, t, _ in _bind_mounts(services["grafana"]) if s == "./grafana/provisioning"
    ]
    assert provider["options"]["path"] == f"{target}/dashboards"
    dashboard = json.loads((GRAFANA_DIR / "dashboards" / "orchestra.json").read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Log volume by level", "Errors", "Runs per task"} <= titles
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == loki["uid"], panel["title"]
        for target_ in panel["targets"]:
            assert target_["datasource"]["uid"] == loki["uid"]
            # Stream selectors may only use the labels Alloy sets.
            for selector in re.findall(r"\{([^{}]*)\}\s*(?:\||\[|\))", target_["expr"]):
                used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
                assert used <= LABELS, f"{panel['title']}: selector uses {used - LABELS}"


# --- (5) the orchestrator image -------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.slow
def test_orchestrator_image_runs() -> None:
    if not shutil.which("docker"):
        _unavailable("the docker CLI is not installed")
        return
    if _run(["docker", "info"], 60).returncode != 0:
        _unavailable("no Docker engine answers `docker info`")
        return
    if _run(["docker", "image", "inspect", IMAGE], 60).returncode != 0:
        _unavailable(f"the image {IMAGE!r} is missing: build it with {BUILD_SCRIPT}")
        return

    def run(*argv: str) -> str:
        result = _run(["docker", "run", "--rm", IMAGE, *argv], 180)
        assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
        return result.stdout

    usage = run("orchestra", "--help")
    assert "Usage" in usage
    for command in ("run", "doctor", "queue"):
        assert re.search(rf"\b{command}\b", usage), usage
    version = run("prefect", "version")
    assert re.search(r"Version:\s+3\.8\.8\b", version), version
    assert run("id", "-un").strip() == "orchestra"
    assert "git version" in run("git", "--version")
    worker_help = run("prefect", "worker", "start", "--help")
    for flag in ("--pool", "--type", "--with-healthcheck"):
        assert flag in worker_help, f"`prefect worker start` has no {flag}"
    inspect = _run(["docker", "image", "inspect", "--format", "{{json .Config.Cmd}}", IMAGE])
    assert json.loads(inspect.stdout) == [
        "prefect",
        "worker",
        "start",
        "--pool",
        "orchestra",
        "--type",
        "process",
    ]
