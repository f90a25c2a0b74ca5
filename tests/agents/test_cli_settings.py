"""Each CLI's settings from the worker profile: codex's config.toml (its provider made of
OPENAI_BASE_URL), claude's settings.json and --add-dir, extra flags, the final answer, the
failure kinds of model API errors, and the variable a refused credential is reported by."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from orchestra.agents import build_invocation, parse_outcome
from orchestra.agents.base import classify
from orchestra.agents.codex import ENV_PROVIDER, codex_config
from orchestra.agents.credentials import credential_hint
from orchestra.agents.toml import dumps
from orchestra.config.models import WorkerProfile
from orchestra.errors import ConfigError

PATHS = {
    "prompt_file": "/out/prompt.md",
    "workspace": "/workspace",
    "output_dir": "/out",
    "state_dir": "/state",
}


class TestCodexProvider:
    def test_openai_base_url_becomes_a_provider(self) -> None:
        """OPENAI_BASE_URL in the env: a Responses provider with that URL and OPENAI_API_KEY,
        chosen as the model provider, with few retries."""
        env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-x"}
        inv = build_invocation("codex", model="gpt-5", env=env, **PATHS)
        config = tomllib.loads(inv.state_files["codex/config.toml"])
        assert config["model_provider"] == ENV_PROVIDER
        provider = config["model_providers"][ENV_PROVIDER]
        assert provider["base_url"] == "http://127.0.0.1:9/v1"
        assert provider["wire_api"] == "responses"
        assert provider["env_key"] == "OPENAI_API_KEY"
        assert provider["request_max_retries"] == provider["stream_max_retries"] == 1
        assert "sk-x" not in inv.state_files["codex/config.toml"]

    def test_codex_api_key_alone_is_the_env_key(self) -> None:
        config = codex_config({}, {"OPENAI_BASE_URL": "http://h/v1", "CODEX_API_KEY": "k"})
        assert config["model_providers"][ENV_PROVIDER]["env_key"] == "CODEX_API_KEY"

    def test_a_login_without_a_key_sends_the_login(self) -> None:
        """No key in the env, a login file offered: codex authenticates with the login."""
        config = codex_config({}, {"OPENAI_BASE_URL": "http://h/v1"}, login=True)
        provider = config["model_providers"][ENV_PROVIDER]
        assert provider["requires_openai_auth"] is True
        assert "env_key" not in provider

    def test_the_profiles_own_provider_wins(self) -> None:
        """cli.config naming a provider is written as it is; OPENAI_BASE_URL adds nothing."""
        own = {
            "model_provider": "gateway",
            "model_providers": {
                "gateway": {
                    "name": "Gateway",
                    "base_url": "https://gw.example/v1",
                    "env_key": "GW_KEY",
                    "wire_api": "responses",
                }
            },
        }
        inv = build_invocation(
            "codex",
            model=None,
            cli_config=own,
            env={"OPENAI_BASE_URL": "http://other/v1"},
            extra_args=["--oss"],
            **PATHS,
        )
        assert tomllib.loads(inv.state_files["codex/config.toml"]) == own
        assert inv.argv[-2:] == ["--oss", "-"]

    def test_no_settings_no_file(self) -> None:
        inv = build_invocation("codex", model="gpt-5", env={"OPENAI_API_KEY": "k"}, **PATHS)
        assert inv.state_files == {}


class TestToml:
    def test_round_trip(self) -> None:
        data = {
            "model": "gpt-5",
            "model_reasoning_effort": "low",
            "model_providers": {
                "p": {"base_url": "http://h/v1", "http_headers": {"X-Team": "a b"}, "n": 2}
            },
            "features": {"web.search": False},
            "notify": ["a", "b"],
        }
        assert tomllib.loads(dumps(data)) == data

    def test_a_value_toml_cannot_hold_is_refused_by_name(self) -> None:
        with pytest.raises(ConfigError, match=r"cli.config value None at 'model_providers.p.x'"):
            dumps({"model_providers": {"p": {"x": None}}})


class TestClaudeSettings:
    def test_settings_json_and_add_dir(self) -> None:
        """cli.config becomes claude's settings.json in its per-run config folder; --add-dir
        opens the output folder for its handoff file."""
        inv = build_invocation(
            "claude",
            model="sonnet",
            cli_config={"env": {"BASH_DEFAULT_TIMEOUT_MS": "60000"}},
            **PATHS,
        )
        assert json.loads(inv.state_files["claude/settings.json"]) == {
            "env": {"BASH_DEFAULT_TIMEOUT_MS": "60000"}
        }
        assert inv.argv[inv.argv.index("--add-dir") + 1] == "/out"
        assert inv.env["CLAUDE_CONFIG_DIR"] == "/state/claude"

    def test_auth_file_is_for_codex_only(self) -> None:
        """A claude profile with a login file: refused at load, with the variable to use."""
        with pytest.raises(ValueError, match="CLAUDE_CODE_OAUTH_TOKEN"):
            WorkerProfile(
                role="coder", agent="claude", runtime="process", cli={"auth_file": "~/x.json"}
            )

    def test_unknown_cli_setting_is_refused(self) -> None:
        with pytest.raises(ValueError, match="extra"):
            WorkerProfile(role="coder", agent="codex", runtime="process", cli={"flags": ["-x"]})


class TestAnswer:
    def test_claude_answer_is_its_result_text(self) -> None:
        out = json.dumps(
            {"type": "result", "subtype": "success", "is_error": False, "result": "Done."}
        )
        outcome = parse_outcome("claude", exit_code=0, stdout=out, stderr="", timed_out=False)
        assert outcome.answer == "Done."

    def test_codex_answer_is_its_last_agent_message(self, tmp_path: Path) -> None:
        lines = [
            {"type": "item.completed", "item": {"type": "agent_message", "text": "first"}},
            {"type": "item.completed", "item": {"type": "agent_message", "text": "last"}},
            {"type": "turn.completed", "usage": {"input_tokens": 3, "output_tokens": 2}},
        ]
        out = "\n".join(json.dumps(line) for line in lines)
        outcome = parse_outcome("codex", exit_code=0, stdout=out, stderr="", timed_out=False)
        assert (outcome.answer, outcome.input_tokens, outcome.output_tokens) == ("last", 3, 2)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("exceeded retry limit, last status: 429 Too Many Requests", "rate_limited"),
        ("You've hit your usage limit. Upgrade to Pro", "rate_limited"),
        ("You exceeded your current quota, please check your plan", "rate_limited"),
        ("unexpected status 529 <unknown status code>: Overloaded", "overloaded"),
        (
            "We’re currently experiencing high demand, which may cause temporary errors.",
            "overloaded",
        ),
        ("API Error: 500 Internal server error.", "overloaded"),
        (
            "Reconnecting... waiting for network (Connection failed: error sending request)",
            "unreachable",
        ),
        (
            "stream disconnected before completion: stream closed before response.completed",
            "unreachable",
        ),
        ("unexpected status 401 Unauthorized: Incorrect API key provided", "auth"),
    ],
)
def test_model_api_errors_are_classified(text: str, kind: str) -> None:
    assert classify(text) == kind


class TestCredentialHint:
    def test_names_the_variable_that_is_set_never_its_value(self) -> None:
        hint = credential_hint("claude", {"CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat-secret"})
        assert "CLAUDE_CODE_OAUTH_TOKEN" in hint
        assert "secret" not in hint

    def test_names_what_to_set_when_nothing_is(self) -> None:
        hint = credential_hint("codex", {})
        assert "set OPENAI_API_KEY or CODEX_API_KEY" in hint

    def test_names_the_login_file(self) -> None:
        assert "codex login" in credential_hint("codex", {}, "~/.codex/auth.json")


class TestCodexEndpoint:
    def test_the_profiles_provider_is_the_endpoint(self) -> None:
        """What the preflight probes for codex: the provider codex will call, and its key."""
        from orchestra.agents.codex import provider_endpoint

        own = {
            "model_provider": "gw",
            "model_providers": {"gw": {"base_url": "https://gw/v1", "env_key": "GW_KEY"}},
        }
        assert provider_endpoint(own, {}) == (
            "https://gw/v1",
            "cli.config model_providers.gw",
            "GW_KEY",
        )
        assert provider_endpoint({}, {"OPENAI_BASE_URL": "http://h/v1"}) == (
            "http://h/v1",
            "OPENAI_BASE_URL",
            "OPENAI_API_KEY",
        )
        assert provider_endpoint({}, {"CODEX_API_KEY": "k"}) is None
