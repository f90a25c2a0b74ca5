"""Agent adapters: argv/env per CLI, parsing of real CLI output, model choice, env allowlist,
and the prompt templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from orchestra.agents import (
    PASS_ENV_DEFAULTS,
    AgentOutcome,
    allowed_env,
    build_invocation,
    choose_model,
    executable,
    parse_outcome,
    state_dirs,
)
from orchestra.config.models import AgentKind
from orchestra.engine.prompting import PROMPT_NAMES, prompt_placeholders, render_prompt
from orchestra.errors import ConfigError, OrchestraError

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "agent-samples"

PATHS = {
    "prompt_file": "/out/prompt.md",
    "workspace": "/workspace",
    "output_dir": "/out",
    "state_dir": "/state",
}


class TestClaudeInvocation:
    def test_argv_with_model(self) -> None:
        """claude runs in print mode, JSON output, acceptEdits, one argv item per allowed tool."""
        inv = build_invocation("claude", model="sonnet", **PATHS)
        assert inv.argv == [
            "claude",
            "-p",
            "--model",
            "sonnet",
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            "Bash",
            "Edit",
            "Write",
            "--setting-sources",
            "user",
            "--strict-mcp-config",
            "--add-dir",
            "/out",
            "--output-format",
            "stream-json",
            "--verbose",
        ]

    def test_argv_without_model(self) -> None:
        """Without a model, claude gets no --model flag at all."""
        inv = build_invocation("claude", model=None, **PATHS)
        assert "--model" not in inv.argv
        assert inv.argv[:2] == ["claude", "-p"]

    def test_prompt_on_stdin(self) -> None:
        """claude reads the prompt file on stdin."""
        assert build_invocation("claude", model=None, **PATHS).stdin_path == "/out/prompt.md"

    def test_env(self) -> None:
        """claude gets a per-run config folder, no auto-update and a small retry count."""
        inv = build_invocation("claude", model=None, **PATHS)
        assert inv.env == {
            "CLAUDE_CONFIG_DIR": "/state/claude",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_MAX_RETRIES": "3",
        }

    def test_extra_args_follow_ours(self) -> None:
        """Profile flags come after the adapter's, after the variadic tool list is closed."""
        inv = build_invocation("claude", model=None, extra_args=["--max-turns", "5"], **PATHS)
        assert inv.argv[-5:] == ["--output-format", "stream-json", "--verbose", "--max-turns", "5"]


class TestCodexInvocation:
    def test_argv_with_model(self) -> None:
        """codex exec gets JSON, no sandbox or approvals, the workspace, model, -o, then '-'."""
        inv = build_invocation("codex", model="gpt-5", **PATHS)
        assert inv.argv == [
            "codex",
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "-C",
            "/workspace",
            "-m",
            "gpt-5",
            "-o",
            "/out/last-message.txt",
            "-",
        ]

    def test_argv_without_model(self) -> None:
        """Without a model, codex gets no -m flag."""
        inv = build_invocation("codex", model=None, **PATHS)
        assert "-m" not in inv.argv
        assert inv.argv[-3:] == ["-o", "/out/last-message.txt", "-"]

    def test_extra_args_before_stdin_marker(self) -> None:
        """Profile flags go before the final '-' so codex still reads the prompt from stdin."""
        inv = build_invocation("codex", model=None, extra_args=["-c", "x=1"], **PATHS)
        assert inv.argv[-3:] == ["-c", "x=1", "-"]

    def test_env_and_stdin(self) -> None:
        """codex gets its own writable CODEX_HOME and the prompt on stdin."""
        inv = build_invocation("codex", model=None, **PATHS)
        assert inv.env == {"CODEX_HOME": "/state/codex"}
        assert inv.stdin_path == "/out/prompt.md"


class TestOpencodeInvocation:
    def test_argv_with_model(self) -> None:
        """opencode run gets JSON output, --auto, the workspace and a provider/model."""
        inv = build_invocation("opencode", model="anthropic/claude-sonnet-4-5", **PATHS)
        assert inv.argv == [
            "opencode",
            "run",
            "--format",
            "json",
            "--auto",
            "--dir",
            "/workspace",
            "-m",
            "anthropic/claude-sonnet-4-5",
        ]

    def test_argv_without_model(self) -> None:
        """Without a model, opencode gets no -m flag."""
        inv = build_invocation("opencode", model=None, **PATHS)
        assert inv.argv == ["opencode", "run", "--format", "json", "--auto", "--dir", "/workspace"]

    def test_env_and_stdin(self) -> None:
        """opencode's four XDG folders live under the state folder; auto-update is off."""
        inv = build_invocation("opencode", model=None, **PATHS)
        assert inv.env == {
            "XDG_CONFIG_HOME": "/state/xdg/config",
            "XDG_DATA_HOME": "/state/xdg/data",
            "XDG_STATE_HOME": "/state/xdg/state",
            "XDG_CACHE_HOME": "/state/xdg/cache",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
        }
        assert inv.stdin_path == "/out/prompt.md"


class TestAiderInvocation:
    def test_argv(self) -> None:
        """aider reads the prompt from --message-file, never prompts, commits nothing."""
        inv = build_invocation("aider", model="openai/gpt-4o", **PATHS)
        assert inv.argv == [
            "aider",
            "--model",
            "openai/gpt-4o",
            "--message-file",
            "/out/prompt.md",
            "--yes-always",
            "--no-fancy-input",
            "--no-pretty",
            "--no-auto-commits",
            "--no-gitignore",
            "--no-check-update",
            "--no-show-release-notes",
            "--analytics-disable",
            "--input-history-file",
            "/out/aider.input.history",
            "--chat-history-file",
            "/out/aider.chat.history.md",
        ]

    def test_stdin_and_env(self) -> None:
        """aider's stdin is /dev/null (None); the env keeps it offline (bundled price map), its
        errors on one line, its output unbuffered (a killed step keeps what it printed) and a git
        identity it would otherwise write into the workspace's .git/config."""
        inv = build_invocation("aider", model="openai/gpt-4o", **PATHS)
        assert inv.stdin_path is None
        assert inv.env == {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "COLUMNS": "1000",
            "PYTHONUNBUFFERED": "1",
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "user.name",
            "GIT_CONFIG_VALUE_0": "Orchestra agent",
            "GIT_CONFIG_KEY_1": "user.email",
            "GIT_CONFIG_VALUE_1": "orchestra@localhost",
        }

    @pytest.mark.parametrize("model", [None, ""])
    def test_without_model_refused(self, model: str | None) -> None:
        """aider without a model is a ConfigError: it would wait 5 minutes for a browser login."""
        with pytest.raises(ConfigError, match=r"aider needs a model: set `model:` on the worker"):
            build_invocation("aider", model=model, **PATHS)


class TestCommandInvocation:
    def test_placeholders_replaced(self) -> None:
        """{prompt_file} {workspace} {output_dir} {model} {state_dir} are replaced in each item."""
        command = ["run-it", "--in={prompt_file}", "{workspace}", "{output_dir}/x", "-m{model}"]
        inv = build_invocation("command", model="m1", command=[*command, "{state_dir}"], **PATHS)
        assert inv.argv == [
            "run-it",
            "--in=/out/prompt.md",
            "/workspace",
            "/out/x",
            "-mm1",
            "/state",
        ]

    def test_other_braces_survive(self) -> None:
        """Braces that are not placeholders (JSON, shell) are left as they are."""
        inv = build_invocation("command", model=None, command=['{"a": {b}}', "${HOME}"], **PATHS)
        assert inv.argv == ['{"a": {b}}', "${HOME}"]

    def test_missing_model_is_empty(self) -> None:
        """{model} without a model becomes the empty string."""
        inv = build_invocation("command", model=None, command=["x", "--model={model}"], **PATHS)
        assert inv.argv == ["x", "--model="]

    def test_stdin_env_and_extra_args(self) -> None:
        """A command reads the prompt on stdin, gets no env additions; extra args are appended."""
        inv = build_invocation("command", model=None, command=["x"], extra_args=["-v"], **PATHS)
        assert (inv.argv, inv.env, inv.stdin_path) == (["x", "-v"], {}, "/out/prompt.md")

    @pytest.mark.parametrize("command", [None, [], [""], "my-agent --flag"])
    def test_bad_command_refused(self, command: object) -> None:
        """A missing, empty or single-string command is a ConfigError."""
        with pytest.raises(ConfigError, match="command"):
            build_invocation("command", model=None, command=command, **PATHS)  # type: ignore[arg-type]


class TestExecutableAndStateDirs:
    @pytest.mark.parametrize("kind", ["claude", "codex", "opencode", "aider"])
    def test_cli_name(self, kind: AgentKind) -> None:
        """A CLI's executable is its own name, the same as argv[0]."""
        model = "openai/gpt-4o" if kind == "aider" else None
        assert executable(kind, None) == kind
        assert build_invocation(kind, model=model, **PATHS).argv[0] == kind

    def test_command(self) -> None:
        """A command's executable is its first item."""
        assert executable("command", ["/bin/my-agent", "{prompt_file}"]) == "/bin/my-agent"

    def test_unknown_kind(self) -> None:
        """An unknown agent kind is a ConfigError listing the known ones."""
        with pytest.raises(ConfigError, match="opencode"):
            executable("cursor", None)  # type: ignore[arg-type]

    def test_state_dirs_match_env(self) -> None:
        """state_dirs lists exactly the folders the adapter points the CLI at."""
        for kind in ("claude", "codex", "opencode"):
            inv = build_invocation(kind, model=None, **PATHS)
            folders = {v for k, v in inv.env.items() if k.endswith(("_DIR", "_HOME"))}
            assert set(state_dirs(kind, "/state")) == folders
        assert state_dirs("aider", "/state") == []


@dataclass(frozen=True)
class Expected:
    ok: bool
    failure: str | None
    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


# What AGENT-CLIS samples README says each case must come out as.
EXPECTED: dict[str, Expected] = {
    "claude/success": Expected(True, None, "hi from fake", 100, 7, 0.000405),
    "claude/auth-error-json": Expected(False, "auth"),
    "claude/no-key-json": Expected(False, "credentials"),
    "claude/auth-error-text": Expected(False, "auth"),
    "claude/stream-json": Expected(False, "unreachable"),
    "claude/unreachable-killed": Expected(False, "timeout"),
    "codex/success": Expected(True, None, "hi from fake", 100, 7, None),
    "codex/auth-error": Expected(False, "auth"),
    "codex/no-key": Expected(False, "auth"),  # the endpoint answered 401; nothing says "no key"
    "codex/unreachable-killed": Expected(False, "timeout"),
    "codex/read-only-home": Expected(False, "environment"),
    "opencode/success": Expected(True, None, "hi from fake", 100, 7, 0.000405),
    "opencode/success-text": Expected(True, None, "hi from fake", None, None, None),
    "opencode/auth-error": Expected(False, "auth"),
    "opencode/unknown-model": Expected(False, "configuration"),
    "opencode/read-only-home": Expected(False, "environment"),
    "aider/success": Expected(True, None, "hi from fake", 2400, 3, 0.006),
    "aider/no-key": Expected(False, "auth"),
    "aider/no-model-killed": Expected(False, "timeout"),
    # aider 0.86.2 against tests/support/chat_api.py (/work FINDINGS): exit 0 in every case.
    "aider/success-edit": Expected(True, None, None, 2500, 111, 0.0073),
    "aider/reviewer-approve": Expected(True, None, None, 2500, 48, 0.0067),
    "aider/readonly-home": Expected(True, None, None, 2600, 111, 0.0076),
    "aider/auth-401": Expected(False, "auth"),
    "aider/auth-401-columns": Expected(False, "auth"),
    "aider/unreachable": Expected(False, "unreachable"),
    "aider/connection-closed": Expected(False, "unreachable"),
    "aider/api-timeout": Expected(False, "unreachable"),
    "aider/server-500": Expected(False, "error"),
    "aider/rate-limit-429": Expected(False, "error"),
    "aider/model-404": Expected(False, "configuration"),
    "aider/bad-request-400": Expected(False, "configuration"),
}


def sample_cases() -> list[str]:
    return sorted(f"{d.parent.name}/{d.name}" for d in SAMPLES.glob("*/*") if d.is_dir())


def run_sample(case: str, output_dir: Path | None = None) -> AgentOutcome:
    """Parse one sample folder; an 'exit' file that is not a number means we killed it."""
    folder = SAMPLES / case
    note = (folder / "exit").read_text(encoding="utf-8").strip()
    exit_code = int(note) if re.fullmatch(r"-?\d+", note) else None
    kind = folder.parent.name
    return parse_outcome(
        kind,  # type: ignore[arg-type]
        exit_code=exit_code,
        stdout=(folder / "stdout").read_text(encoding="utf-8"),
        stderr=(folder / "stderr").read_text(encoding="utf-8"),
        timed_out=exit_code is None,
        output_dir=output_dir,
    )


class TestParseSamples:
    def test_every_sample_has_an_expectation(self) -> None:
        """Each fixture folder is in the table, and each table row has a fixture folder."""
        assert sample_cases() == sorted(EXPECTED)

    @pytest.mark.parametrize("case", sample_cases())
    def test_sample(self, case: str) -> None:
        """Each real CLI output parses to the outcome the samples README prescribes."""
        want = EXPECTED[case]
        got = run_sample(case)
        assert (got.ok, got.failure) == (want.ok, want.failure), got.message
        if want.ok:
            if want.text is not None:
                assert got.text == want.text
            assert got.message == ""
            assert got.input_tokens == want.input_tokens
            assert got.output_tokens == want.output_tokens
            if want.cost_usd is None:
                assert got.cost_usd is None
            else:
                assert got.cost_usd == pytest.approx(want.cost_usd)
        else:
            assert got.message.startswith(f"{case.split('/', maxsplit=1)[0]}: ")
            assert "\n" not in got.message

    @pytest.mark.parametrize(
        ("case", "words"),
        [
            ("claude/auth-error-json", "Invalid API key"),
            ("claude/no-key-json", "Not logged in"),
            ("codex/read-only-home", "Read-only file system"),
            ("opencode/read-only-home", "EROFS"),
            ("opencode/unknown-model", "model"),
            ("codex/unreachable-killed", "failed to lookup address"),
            ("aider/no-model-killed", "browser login"),
            ("aider/auth-401", "Incorrect API key provided"),
            ("aider/unreachable", "Connection error"),
            ("aider/api-timeout", "Request timed out"),
            ("aider/model-404", "does not exist"),
        ],
    )
    def test_message_names_the_reason(self, case: str, words: str) -> None:
        """A failure's one-line message carries the CLI's own reason."""
        assert words in run_sample(case).message


class TestParseRules:
    def test_handoff_preferred(self, tmp_path: Path) -> None:
        """A handoff.md in the output folder becomes the text, over the CLI's final answer."""
        (tmp_path / "handoff.md").write_text("## Summary\nDone.\n", encoding="utf-8")
        for case in ("claude/success", "codex/success", "opencode/success", "aider/success"):
            assert run_sample(case, output_dir=tmp_path).text == "## Summary\nDone."

    def test_handoff_kept_on_failure(self, tmp_path: Path) -> None:
        """A failed step still reports its handoff text; the failure kind is unchanged."""
        (tmp_path / "handoff.md").write_text("partial", encoding="utf-8")
        got = run_sample("codex/auth-error", output_dir=tmp_path)
        assert (got.ok, got.failure, got.text) == (False, "auth", "partial")

    def test_no_handoff_uses_cli_text(self, tmp_path: Path) -> None:
        """Without handoff.md (or with an empty one) the CLI's final text stays."""
        (tmp_path / "handoff.md").write_text("  \n", encoding="utf-8")
        assert run_sample("claude/success", output_dir=tmp_path).text == "hi from fake"

    def test_codex_last_message_file(self, tmp_path: Path) -> None:
        """codex's -o file gives the text when stdout has no agent_message."""
        (tmp_path / "last-message.txt").write_text("from -o\n", encoding="utf-8")
        stdout = '{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":2}}\n'
        got = parse_outcome(
            "codex", exit_code=0, stdout=stdout, stderr="", timed_out=False, output_dir=tmp_path
        )
        assert (got.ok, got.text, got.input_tokens, got.output_tokens) == (True, "from -o", 1, 2)

    def test_codex_exit_zero_without_turn(self) -> None:
        """codex exiting 0 without turn.completed is not a success."""
        got = parse_outcome("codex", exit_code=0, stdout="", stderr="", timed_out=False)
        assert (got.ok, got.failure) == (False, "error")

    def test_timeout_wins_over_success(self) -> None:
        """A step stopped at the time limit is a timeout even if its output looked fine."""
        stdout = (SAMPLES / "claude/success/stdout").read_text(encoding="utf-8")
        got = parse_outcome("claude", exit_code=None, stdout=stdout, stderr="", timed_out=True)
        assert (got.ok, got.failure) == (False, "timeout")
        assert got.message == "claude: stopped at the time limit"

    def test_stopped_without_timeout(self) -> None:
        """A process that did not exit on its own, without a timeout, is an error."""
        got = parse_outcome("opencode", exit_code=None, stdout="hi", stderr="", timed_out=False)
        assert (got.ok, got.failure) == (False, "error")

    def test_claude_max_turns(self) -> None:
        """claude ending with error_max_turns is a failure naming the subtype."""
        stdout = '{"type":"result","subtype":"error_max_turns","is_error":true,"result":""}'
        got = parse_outcome("claude", exit_code=1, stdout=stdout, stderr="", timed_out=False)
        assert (got.ok, got.failure) == (False, "error")
        assert "error_max_turns" in got.message

    def test_aider_startup_failure(self) -> None:
        """aider's exit 2 (usage) is a configuration failure."""
        got = parse_outcome(
            "aider",
            exit_code=2,
            stdout="",
            stderr="aider: error: unrecognized arguments: --bogus",
            timed_out=False,
        )
        assert (got.ok, got.failure) == (False, "configuration")

    def test_aider_tokens_summed(self) -> None:
        """Several aider Tokens lines add up; the cost is the last session total."""
        stdout = (
            "Aider v0.86.2\nMain model: x\n\nfirst\n"
            "Tokens: 1.5k sent, 10 received. Cost: $0.01 message, $0.01 session.\n"
            "second\nTokens: 2k sent, 1.2k cache write, 5 received. "
            "Cost: $0.02 message, $0.03 session.\n"
        )
        got = parse_outcome("aider", exit_code=0, stdout=stdout, stderr="", timed_out=False)
        assert (got.input_tokens, got.output_tokens) == (3500, 15)
        assert got.cost_usd == pytest.approx(0.03)
        assert got.text == "first\nsecond"

    def test_command_ok_on_exit_zero(self) -> None:
        """A command succeeds on exit 0 with its stdout as text."""
        got = parse_outcome("command", exit_code=0, stdout="done\n", stderr="", timed_out=False)
        assert (got.ok, got.text, got.failure, got.message) == (True, "done", None, "")

    def test_command_failure_message(self) -> None:
        """A command failing names its exit code and last stderr line."""
        got = parse_outcome("command", exit_code=3, stdout="", stderr="a\nboom\n", timed_out=False)
        assert (got.ok, got.failure) == (False, "error")
        assert got.message == "command: failed (exit code 3: boom)"

    def test_command_timeout(self) -> None:
        """A command stopped at the time limit is a timeout."""
        got = parse_outcome("command", exit_code=None, stdout="", stderr="", timed_out=True)
        assert (got.ok, got.failure) == (False, "timeout")

    def test_secret_shaped_values_redacted(self) -> None:
        """Key-shaped strings in a CLI's error never reach the message."""
        stderr = "Error: 401 Incorrect API key provided: sk-proj-abcdef1234567890XYZ"
        got = parse_outcome("command", exit_code=1, stdout="", stderr=stderr, timed_out=False)
        assert "sk-proj" not in got.message
        assert "[redacted]" in got.message

    def test_unknown_kind(self) -> None:
        """Parsing for an unknown agent kind is a ConfigError."""
        with pytest.raises(ConfigError):
            parse_outcome("cursor", exit_code=0, stdout="", stderr="", timed_out=False)  # type: ignore[arg-type]


class TestChooseModel:
    def test_dynamic_prefers_task_model(self) -> None:
        """dynamic: the task's front-matter model wins over the profile's."""
        got = choose_model("dynamic", profile_model="p", task_model="t", sticky_model="s")
        assert got == "t"

    def test_dynamic_uses_profile_model(self) -> None:
        """dynamic: without a task model, each step uses its own profile model, ignoring sticky."""
        got = choose_model("dynamic", profile_model="p", task_model=None, sticky_model="s")
        assert got == "p"

    def test_sticky_keeps_first_model(self) -> None:
        """sticky: once a model was chosen in the task, every later step keeps it."""
        got = choose_model("sticky", profile_model="p", task_model="t", sticky_model="s")
        assert got == "s"

    def test_sticky_before_first_choice(self) -> None:
        """sticky: before any model was chosen, it behaves as dynamic."""
        assert choose_model("sticky", profile_model="p", task_model=None, sticky_model=None) == "p"
        assert choose_model("sticky", profile_model="p", task_model="t", sticky_model=None) == "t"

    def test_nothing_set(self) -> None:
        """With no model anywhere the CLI's own default is used (None)."""
        got = choose_model("dynamic", profile_model=None, task_model=None, sticky_model=None)
        assert got is None

    def test_unknown_policy(self) -> None:
        """An unknown policy is a ConfigError."""
        with pytest.raises(ConfigError, match="policy"):
            choose_model("random", profile_model="p", task_model=None, sticky_model=None)  # type: ignore[arg-type]


class TestAllowedEnv:
    ENVIRON: ClassVar[dict[str, str]] = {
        "PATH": "/bin",
        "HOME": "/home/u",
        "ANTHROPIC_API_KEY": "k",
        "XDG_CONFIG_HOME": "/c",
        "XDG_RUNTIME_DIR": "/run",
        "OPENCODE_PERMISSION": "{}",
        "AIDER_MODEL": "m",
        "AWS_SECRET_ACCESS_KEY": "nope",
        "path": "lower",
    }

    def test_defaults(self) -> None:
        """The default allowlist passes exact names and the XDG/OPENCODE/AIDER patterns only."""
        assert allowed_env(self.ENVIRON, PASS_ENV_DEFAULTS) == {
            "PATH": "/bin",
            "HOME": "/home/u",
            "ANTHROPIC_API_KEY": "k",
            "XDG_CONFIG_HOME": "/c",
            "OPENCODE_PERMISSION": "{}",
            "AIDER_MODEL": "m",
        }

    def test_extra_names(self) -> None:
        """A profile's own names are matched exactly, case-sensitively."""
        assert allowed_env(self.ENVIRON, ["AWS_SECRET_ACCESS_KEY"]) == {
            "AWS_SECRET_ACCESS_KEY": "nope"
        }

    def test_defaults_cover_the_spec(self) -> None:
        """Every name on AGENT-CLIS.md's env allowlist line is in the defaults, plus Claude
        Code's subscription token (issue 17)."""
        line = (
            "PATH HOME LANG ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN OPENAI_API_KEY CODEX_API_KEY "
            "ANTHROPIC_BASE_URL OPENAI_BASE_URL OPENAI_API_BASE CLAUDE_CONFIG_DIR "
            "CLAUDE_CODE_MAX_RETRIES DISABLE_AUTOUPDATER IS_SANDBOX CODEX_HOME XDG_*_HOME "
            "OPENCODE_* AIDER_*"
        )
        names = [*line.split(), "CLAUDE_CODE_OAUTH_TOKEN"]
        assert sorted(PASS_ENV_DEFAULTS) == sorted(names)


def prompt_values(name: str) -> dict[str, str]:
    return {key: f"<{key}>" for key in prompt_placeholders(name)}


class TestPrompts:
    ROLES: ClassVar[dict[str, tuple[str, str]]] = {
        "planner": ("planner", "planner"),
        "plan": ("architect", "plan"),
        "implement": ("coder", "implement"),
        "review": ("reviewer", "review"),
        "fix": ("fixer", "fix"),
        "resolve": ("fixer", "resolve"),
    }

    @pytest.mark.parametrize("name", PROMPT_NAMES)
    def test_machine_readable_lines(self, name: str) -> None:
        """Each prompt has the exact Role/Step/Output folder/Workspace lines a demo agent reads."""
        lines = render_prompt(name, **prompt_values(name)).splitlines()
        role, step = self.ROLES[name]
        for line in (f"Role: {role}", f"Step: {step}", "Output folder: <output_dir>"):
            assert line in lines
        assert "Workspace: <workspace>" in lines

    @pytest.mark.parametrize("name", PROMPT_NAMES)
    def test_no_leftover_placeholders(self, name: str) -> None:
        """A rendered prompt has no $placeholder left."""
        text = render_prompt(name, **prompt_values(name))
        assert not re.search(r"\$\{?[A-Za-z_]", text)

    @pytest.mark.parametrize("name", PROMPT_NAMES)
    def test_handoff_requested(self, name: str) -> None:
        """Each prompt asks for handoff.md in the output folder with the five headings."""
        text = render_prompt(name, **prompt_values(name))
        assert "<output_dir>/handoff.md" in text
        for heading in ("Summary", "Actions", "Artifacts", "Risks", "Next"):
            assert f"## {heading}" in text

    def test_planner_lines(self) -> None:
        """The planner prompt names the staging folder, task count, goal, memory and format."""
        text = render_prompt("planner", **prompt_values("planner"))
        lines = text.splitlines()
        for line in ("Staging folder: <staging_dir>", "Tasks wanted: <max_tasks>", "Goal: <goal>"):
            assert line in lines
        assert "<memory>" in text
        assert "task-<n>.md" in text
        for heading in ("Goal", "Before", "After", "Acceptance criteria", "Files to touch"):
            assert f"## {heading}" in text
        assert "## Test plan" in text
        assert "title:" in text
        assert "verify:" in text

    @pytest.mark.parametrize("name", ["plan", "implement", "review", "fix"])
    def test_step_sections(self, name: str) -> None:
        """Step prompts put the task under '## Task' and the carry under '## Earlier steps'."""
        text = render_prompt(
            name, task="TASK-TEXT", carry="CARRY-TEXT", workspace="w", output_dir="o"
        )
        assert re.search(r"^## Task\n\nTASK-TEXT$", text, re.M)
        assert re.search(r"^## Earlier steps\n\nCARRY-TEXT$", text, re.M)

    def test_review_verdict(self) -> None:
        """The review prompt requires a final Verdict line with one of two values."""
        lines = render_prompt("review", **prompt_values("review")).splitlines()
        assert "Verdict: APPROVE" in lines
        assert "Verdict: CHANGES_REQUESTED" in lines

    @pytest.mark.parametrize("name", ["plan", "review"])
    def test_read_only_roles(self, name: str) -> None:
        """plan and review tell the agent not to modify files."""
        assert "do not modify files" in render_prompt(name, **prompt_values(name))

    @pytest.mark.parametrize("name", ["implement", "fix"])
    def test_writing_roles(self, name: str) -> None:
        """implement and fix are told to change code and run tests."""
        text = render_prompt(name, **prompt_values(name))
        assert "do not modify files" not in text
        assert "Run the tests" in text or "run them" in text

    def test_dollar_in_values_kept(self) -> None:
        """Dollar signs inside values are inserted as they are, not substituted again."""
        values = prompt_values("fix") | {"task": "costs $5 and $HOME"}
        assert "costs $5 and $HOME" in render_prompt("fix", **values)

    def test_missing_value(self) -> None:
        """A missing placeholder value is an OrchestraError naming the prompt and placeholder."""
        values = prompt_values("review")
        del values["carry"]
        with pytest.raises(OrchestraError, match=r"prompt 'review' needs a value for \$carry"):
            render_prompt("review", **values)

    def test_unknown_prompt(self) -> None:
        """An unknown prompt name is an OrchestraError listing the built-in prompts."""
        with pytest.raises(OrchestraError, match=r"no prompt named 'deploy'.*planner"):
            render_prompt("deploy")

    def test_name_with_suffix(self) -> None:
        """'plan.md' and 'plan' name the same prompt."""
        values = prompt_values("plan")
        assert render_prompt("plan.md", **values) == render_prompt("plan", **values)


class TestAiderRealReplies:
    """The real aider's replies (SEARCH/REPLACE, handoff headings, a verdict) reach the handoff."""

    def test_edit_reply_keeps_the_handoff_sections(self) -> None:
        """A coder's reply keeps its edit block and every handoff heading, not the Tokens line."""
        got = run_sample("aider/success-edit")
        assert "<<<<<<< SEARCH" in got.text
        for heading in ("## Summary", "## Actions", "## Artifacts", "## Risks", "## Next"):
            assert heading in got.text
        assert "Tokens:" not in got.text
        assert "Aider v0.86.2" not in got.text

    def test_reviewer_verdict_survives(self) -> None:
        """A reviewer's `Verdict: APPROVE` line is in the parsed text."""
        from orchestra.engine.handoff import parse_handoff

        got = run_sample("aider/reviewer-approve")
        handoff = parse_handoff(got.text)
        assert handoff.verdict == "APPROVE"

    def test_timeout_is_not_success(self) -> None:
        """`litellm.Timeout` (the API never answered) is a failure, not a reply (was ok=True)."""
        got = run_sample("aider/api-timeout")
        assert not got.ok
        assert got.message.startswith("aider: model API unreachable (litellm.Timeout")

    def test_connection_error_is_unreachable(self) -> None:
        """A refused or dropped connection shows as InternalServerError "Connection error":
        it is classed unreachable, not a generic error."""
        for case in ("aider/unreachable", "aider/connection-closed"):
            assert run_sample(case).failure == "unreachable"

    def test_wrapped_and_unwrapped_401_read_the_same(self) -> None:
        """The 401 text wrapped at 80 columns and on one line (COLUMNS=1000) both read as auth."""
        wrapped = run_sample("aider/auth-401")
        one_line = run_sample("aider/auth-401-columns")
        assert wrapped.failure == one_line.failure == "auth"
        assert "Incorrect API key provided" in one_line.message
