"""The preflight's probe of a worker's OpenAI-compatible model API, against the stand-in API.

A refused key, an address where nothing listens and an API that never answers each stop the cycle
in preflight with the URL, the variable and the fix (``python -m flows.run`` exits 2, the queue is
untouched); a worker without a base URL (the provider's default) is not probed.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.chat_api import ChatAPI, Reply

from orchestra.config.models import WorkerProfile
from orchestra.engine.preflight import PROBE_TIMEOUT, check_model_apis, model_api, probe_model_api
from orchestra.errors import ModelAPIError
from orchestra.project import open_project

KEY = "sk-probe-good"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def aider(env: dict[str, str], **extra: Any) -> WorkerProfile:
    return WorkerProfile(role="coder", agent="aider", runtime="process", env=env, **extra)


def probe(profile: WorkerProfile, timeout: float = PROBE_TIMEOUT) -> None:
    api = model_api("coder", profile, profile.env)
    assert api is not None
    probe_model_api(api, timeout=timeout)


def test_good_key_passes_and_sends_the_key() -> None:
    with ChatAPI(api_key=KEY) as api:
        probe(aider({"OPENAI_API_BASE": api.url, "OPENAI_API_KEY": KEY}))
        (request,) = api.requests
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_refused_key_names_url_variable_and_fix() -> None:
    with ChatAPI(api_key=KEY) as api:
        profile = aider({"OPENAI_BASE_URL": api.url, "OPENAI_API_KEY": "sk-wrong-secret"})
        with pytest.raises(ModelAPIError) as err:
            probe(profile)
    message = str(err.value)
    assert message.startswith(f"worker 'coder': the model API {api.url} (OPENAI_BASE_URL)")
    assert "answered HTTP 401" in message
    assert "Incorrect API key provided" in message
    assert message.endswith("the key in OPENAI_API_KEY was refused: set a valid key")
    assert "sk-wrong-secret" not in message


def test_missing_key_says_which_variable_to_set() -> None:
    with ChatAPI(fault=Reply.unauthorized()) as api, pytest.raises(ModelAPIError) as err:
        probe(aider({"OPENAI_API_BASE": api.url}))
    assert str(err.value).endswith("no key was sent: set OPENAI_API_KEY (env, or pass_env)")


def test_unreachable_api_names_url_and_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelAPIError) as err:
        probe(aider({"OPENAI_API_BASE": url, "OPENAI_API_KEY": KEY}))
    message = str(err.value)
    assert message.startswith(
        f"worker 'coder': the model API {url} (OPENAI_API_BASE) is unreachable"
    )
    assert "ConnectError" in message
    assert message.endswith("start it, or fix OPENAI_API_BASE in the worker's env or pass_env")


def test_silent_api_times_out_quickly() -> None:
    with ChatAPI(fault=Reply.silent()) as api:
        started = time.monotonic()
        with pytest.raises(ModelAPIError) as err:
            probe(aider({"OPENAI_API_BASE": api.url, "OPENAI_API_KEY": KEY}), timeout=1.0)
        elapsed = time.monotonic() - started
    assert "did not answer within 1 s (ReadTimeout)" in str(err.value)
    assert elapsed < 5


def test_api_without_models_endpoint_passes() -> None:
    """404 (an OpenAI-compatible server without /models) proves it is there: no error."""
    with ChatAPI() as api:
        probe(
            aider(
                {"OPENAI_API_BASE": api.url.removesuffix("/v1") + "/other", "OPENAI_API_KEY": KEY}
            )
        )
        assert api.requests[0].path == "/other/models"


def test_no_base_url_is_not_probed() -> None:
    """The provider's default endpoint (no base URL in the env) is left to the step."""
    assert model_api("coder", aider({"OPENAI_API_KEY": KEY}), {"OPENAI_API_KEY": KEY}) is None


def test_docker_network_none_is_not_probed() -> None:
    profile = WorkerProfile(
        role="coder",
        agent="aider",
        runtime="docker",
        docker={"image": "x", "network": "none"},
        env={"OPENAI_API_BASE": "http://127.0.0.1:9/v1"},
    )
    assert model_api("coder", profile, profile.env) is None


def test_docker_loopback_probed_where_the_bridge_name_does_not_resolve() -> None:
    """On the host, host.docker.internal rarely resolves: the loopback URL itself is probed."""
    profile = WorkerProfile(
        role="coder",
        agent="aider",
        runtime="docker",
        docker={"image": "x", "bridge_host": "no-such-host.invalid"},
        env={"OPENAI_API_BASE": "http://127.0.0.1:9/v1"},
    )
    api = model_api("coder", profile, profile.env)
    assert api is not None
    assert api.probe_url == "http://127.0.0.1:9/v1"
    # Where it resolves (the Compose worker maps host.docker.internal), the container's URL.
    inside = profile.model_copy(
        update={"runtime": profile.runtime.model_copy(update={"bridge_host": "localhost"})}
    )
    api = model_api("coder", inside, inside.env)
    assert api is not None
    assert api.probe_url == "http://localhost:9/v1"


def test_proxy_comes_from_the_step_env_only() -> None:
    env = {"OPENAI_API_BASE": "https://llm.example.com/v1", "HTTPS_PROXY": "http://proxy:3128"}
    api = model_api("coder", aider(env), env)
    assert api is not None and api.proxy == "http://proxy:3128"
    env["NO_PROXY"] = ".example.com"
    api = model_api("coder", aider(env), env)
    assert api is not None and api.proxy is None


def test_the_probe_travels_by_the_given_transport() -> None:
    """An injected transport carries the probe (the host name resolves nowhere): its answer is
    judged like a server's."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(403, text="key revoked")

    env = {"OPENAI_API_BASE": "http://models.invalid/v1", "OPENAI_API_KEY": KEY}
    api = model_api("coder", aider(env), env)
    assert api is not None
    with pytest.raises(ModelAPIError, match=r"answered HTTP 403 \(key revoked\)"):
        probe_model_api(api, transport=httpx.MockTransport(answer))
    assert [str(r.url) for r in seen] == ["http://models.invalid/v1/models"]
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"


def test_pass_env_reads_the_given_environment(
    demo_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_model_apis reads ``pass_env`` from the mapping it is given, not os.environ."""
    monkeypatch.setenv("OPENAI_API_BASE", f"http://127.0.0.1:{free_port()}/v1")  # nothing there
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-os-environ")
    coder = {"role": "coder", "agent": "command", "runtime": "process", "command": ["true"]}
    coder["pass_env"] = ["OPENAI_API_BASE", "OPENAI_API_KEY"]
    overlay = tmp_path / "pass-env.yaml"
    overlay.write_text(yaml.safe_dump({"workers": {"coder": coder}}), encoding="utf-8")
    project = open_project(demo_project, [overlay])
    with ChatAPI(api_key=KEY) as api:
        check_model_apis(
            project, ["coder"], environ={"OPENAI_API_BASE": api.url, "OPENAI_API_KEY": KEY}
        )
        (request,) = api.requests
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    check_model_apis(project, ["coder"], environ={})  # no base URL given: nothing probed


@pytest.fixture
def aider_project(demo_project: Path, demo_task: Any) -> Path:
    queue = demo_project / ".orchestra" / "queue"
    queue.mkdir(parents=True)
    (queue / "task-01.md").write_text(demo_task("multiply"), encoding="utf-8")
    return demo_project


def test_flows_run_exits_2_before_anything_moves(
    aider_project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused key: exit 2, one line naming the URL and the variable, the queue untouched."""
    from flows.run import main

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    queue = aider_project / ".orchestra" / "queue"
    before = {p.name: p.read_bytes() for p in queue.iterdir()}
    with ChatAPI(api_key=KEY) as api:
        overlay = tmp_path / "aider.yaml"
        env = {"OPENAI_API_BASE": api.url, "OPENAI_API_KEY": "sk-bad"}
        coder = {"role": "coder", "agent": "command", "runtime": "process", "command": ["true"]}
        overlay.write_text(yaml.safe_dump({"workers": {"coder": {**coder, "env": env}}}))
        code = main(["--project", str(aider_project), "--config", str(overlay)])
    out = capsys.readouterr().out
    assert code == 2, out
    assert out.startswith(f"error: worker 'coder': the model API {api.url} (OPENAI_API_BASE)")
    assert "HTTP 401" in out and "OPENAI_API_KEY" in out
    assert {p.name: p.read_bytes() for p in queue.iterdir()} == before
    assert not (aider_project / ".orchestra" / "running").exists()


def test_a_passed_probe_leaves_a_line_in_the_log() -> None:
    """The cycle's log says the API was checked: URL, status, worker, variable."""
    from orchestra.testing import capture_logs

    with ChatAPI(api_key=KEY) as api, capture_logs(level="INFO") as records:
        probe(aider({"OPENAI_API_BASE": api.url, "OPENAI_API_KEY": KEY}))
    lines = [r for r in records if "model API" in r["message"]]
    assert len(lines) == 1, records
    line = lines[0]
    assert line["level"] == "INFO"
    assert f"GET {api.url}/models answered HTTP 200" in line["message"]
    assert "worker 'coder'" in line["message"] and "OPENAI_API_BASE" in line["message"]
    assert KEY not in line["message"]


def test_codex_provider_in_cli_config_is_probed_with_its_key() -> None:
    """A codex gateway set in cli.config: the probe goes to that base URL with its env_key."""
    gateway = {
        "model_provider": "gw",
        "model_providers": {"gw": {"base_url": "http://127.0.0.1:9/v1", "env_key": "GW_KEY"}},
    }
    profile = WorkerProfile(role="coder", agent="codex", runtime="process", cli={"config": gateway})
    api = model_api("coder", profile, {"GW_KEY": "gw-secret-key"})
    assert api is not None
    assert (api.base_url, api.base_var, api.key_var) == (
        "http://127.0.0.1:9/v1",
        "cli.config model_providers.gw",
        "GW_KEY",
    )


def test_codex_with_a_login_and_no_key_is_not_probed() -> None:
    """The step signs in with the copied login; the probe has nothing to send: no probe."""
    profile = WorkerProfile(
        role="coder",
        agent="codex",
        runtime="process",
        env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
        cli={"auth_file": "~/.codex/auth.json"},
    )
    assert model_api("coder", profile, profile.env) is None
