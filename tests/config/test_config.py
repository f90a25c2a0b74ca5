"""Configuration: the defaults DESIGN.md fixed, the layered loading order, and errors that say where."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from orchestra.config.loader import BUILTIN, LOCAL_FILE, PROJECT_FILE, load_config
from orchestra.config.models import OrchestraConfig, ProcessConfig, WorkerProfile
from orchestra.config.schema import json_schema
from orchestra.engine.prompting import PROMPT_NAMES
from orchestra.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "orchestra.yaml"


def write(path: Path, text: str) -> Path:
    """Write a YAML file (creating its folder) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_user_file(tmp_path: Path) -> Path:
    """A user config path that does not exist: the real ~/.config file never leaks in."""
    return tmp_path / "home" / "orchestra" / "config.yaml"


class TestDefaults:
    """Built-in defaults, as DESIGN.md's config section fixes them."""

    @pytest.fixture
    def config(self, no_user_file: Path) -> OrchestraConfig:
        return load_config(None, environ={}, user_file=no_user_file).config

    def test_task_and_ui_defaults(self, config: OrchestraConfig) -> None:
        """Steps get 600 s, debug output is off."""
        assert config.tasks.default_timeout == 600
        assert config.ui.debug is False

    def test_cycle_defaults(self, config: OrchestraConfig) -> None:
        """A cycle takes up to 4 tasks; plan and task workflows have their flow names."""
        cycle = config.workflows.infinite_orchestra
        assert cycle.max_tasks_per_cycle == 4
        assert cycle.plan_workflow == "infinite-orchestra-plan"
        assert cycle.task_workflow == "roocode-boomerang"

    def test_triggers_off(self, config: OrchestraConfig) -> None:
        """Every trigger is off; the cycle's idle gate and cooldown are 30 minutes."""
        triggers = config.workflows.triggers
        assert triggers.infinite_orchestra.enabled is False
        assert triggers.infinite_orchestra.idle_minutes == 30
        assert triggers.infinite_orchestra.cooldown_minutes == 30
        assert triggers.self_improve_on_idle.enabled is False

    def test_boomerang_bounds(self, config: OrchestraConfig) -> None:
        """Task files are capped at 12000 characters, the carry at 24000."""
        boomerang = config.workflows.roocode_boomerang
        assert boomerang.max_task_chars == 12_000
        assert boomerang.max_carry_chars == 24_000

    def test_sources(self, no_user_file: Path) -> None:
        """With no file and no environment, only the built-in defaults are used."""
        assert load_config(None, environ={}, user_file=no_user_file).sources == (BUILTIN,)


class TestLayers:
    """user file < orchestra.yaml < orchestra.local.yaml < --config overlay < ORCHESTRA_* env."""

    def test_later_layers_win(self, tmp_path: Path) -> None:
        """Each layer overrides the ones before it, and keeps what it does not set."""
        project = tmp_path / "project"
        user = write(
            tmp_path / "user.yaml",
            "limits: {max_cycles_per_day: 1, max_consecutive_failures: 1}\n"
            "tasks: {max_attempts: 1, default_timeout: 1}\n"
            "workflows: {infinite_orchestra: {max_queue: 1}}\n",
        )
        write(
            project / PROJECT_FILE,
            "limits: {max_consecutive_failures: 2}\n"
            "tasks: {max_attempts: 2, default_timeout: 2}\n"
            "workflows: {infinite_orchestra: {max_queue: 2}}\n",
        )
        write(
            project / LOCAL_FILE,
            "tasks: {max_attempts: 3, default_timeout: 3}\n"
            "workflows: {infinite_orchestra: {max_queue: 3}}\n",
        )
        overlay = write(
            tmp_path / "overlay.yaml",
            "tasks: {default_timeout: 4}\nworkflows: {infinite_orchestra: {max_queue: 4}}\n",
        )
        env = {"ORCHESTRA_TASKS__DEFAULT_TIMEOUT": "5", "UNRELATED": "x"}

        loaded = load_config(project, overlays=[overlay], environ=env, user_file=user)

        cfg = loaded.config
        assert cfg.limits.max_cycles_per_day == 1
        assert cfg.limits.max_consecutive_failures == 2
        assert cfg.tasks.max_attempts == 3
        assert cfg.workflows.infinite_orchestra.max_queue == 4
        assert cfg.tasks.default_timeout == 5
        assert loaded.sources == (
            BUILTIN,
            str(user),
            str(project / PROJECT_FILE),
            str(project / LOCAL_FILE),
            str(overlay),
            "environment",
        )

    def test_missing_overlay(self, tmp_path: Path, no_user_file: Path) -> None:
        """An overlay that does not exist is an error naming it, not a silent skip."""
        missing = tmp_path / "nope.yaml"
        with pytest.raises(ConfigError, match="does not exist") as caught:
            load_config(tmp_path, overlays=[missing], environ={}, user_file=no_user_file)
        assert str(missing) in str(caught.value)


TYPO = "limits:\n  max_cycls_per_day: 4\n"


class TestTypos:
    """A typo is an error naming the layer it is in and the dotted key."""

    @pytest.mark.parametrize("layer", ["user", "project", "local", "overlay"])
    def test_typo_in_a_file(self, tmp_path: Path, layer: str) -> None:
        """A misspelt key in any file layer names that file and `limits.max_cycls_per_day`."""
        project = tmp_path / "project"
        project.mkdir()
        paths = {
            "user": tmp_path / "user.yaml",
            "project": project / PROJECT_FILE,
            "local": project / LOCAL_FILE,
            "overlay": tmp_path / "overlay.yaml",
        }
        for name, path in paths.items():
            write(path, TYPO if name == layer else "limits:\n  max_cycles_per_day: 4\n")
        with pytest.raises(ConfigError) as caught:
            load_config(project, overlays=[paths["overlay"]], environ={}, user_file=paths["user"])
        message = str(caught.value)
        assert f"{paths[layer]}: unknown key 'limits.max_cycls_per_day'" in message
        others = [p for name, p in paths.items() if name != layer]
        assert not any(str(p) in message for p in others)

    def test_typo_in_the_environment(self, tmp_path: Path, no_user_file: Path) -> None:
        """A misspelt ORCHESTRA_* variable names the environment and the dotted key."""
        env = {"ORCHESTRA_LIMITS__MAX_CYCLS_PER_DAY": "4"}
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path, environ=env, user_file=no_user_file)
        assert (
            "environment variable ORCHESTRA_LIMITS__MAX_CYCLS_PER_DAY: unknown key 'limits.max_cycls_per_day'"
            in str(caught.value)
        )

    def test_wrong_type_names_file_and_key(self, tmp_path: Path, no_user_file: Path) -> None:
        """A value of the wrong type names its file, the key and the value given."""
        write(tmp_path / PROJECT_FILE, "tasks:\n  default_timeout: soon\n")
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path, environ={}, user_file=no_user_file)
        message = str(caught.value)
        assert f"{tmp_path / PROJECT_FILE}: tasks.default_timeout:" in message
        assert "'soon'" in message


class TestRetiredKeys:
    """Keys that did nothing are gone from the schema; an old config that sets one still loads,
    with a warning naming the key."""

    def test_an_old_config_loads_with_a_warning_per_key(
        self, tmp_path: Path, no_user_file: Path
    ) -> None:
        """tasks.default_auto_spawn and ui.vision_timeout: ignored, each named in a warning."""
        old = "tasks:\n  default_auto_spawn: true\n  max_attempts: 2\nui:\n  vision_timeout: 120\n"
        write(tmp_path / PROJECT_FILE, old)
        with pytest.warns(FutureWarning) as caught:
            config = load_config(tmp_path, environ={}, user_file=no_user_file).config
        said = sorted(str(w.message) for w in caught)
        assert len(said) == 2, said
        assert said[0].startswith("config key tasks.default_auto_spawn (True) does nothing")
        assert said[1].startswith("config key ui.vision_timeout (120) does nothing")
        assert all(s.endswith("delete it from your config") for s in said)
        assert config.tasks.max_attempts == 2
        assert "default_auto_spawn" not in config.model_dump()["tasks"]
        assert "vision_timeout" not in config.model_dump()["ui"]

    def test_set_in_the_environment_too(self, tmp_path: Path, no_user_file: Path) -> None:
        """ORCHESTRA_UI__VISION_TIMEOUT is a retired key too, not an unknown one."""
        env = {"ORCHESTRA_UI__VISION_TIMEOUT": "300"}
        with pytest.warns(FutureWarning, match=r"ui\.vision_timeout \('300'\) does nothing"):
            load_config(tmp_path, environ=env, user_file=no_user_file)

    def test_not_in_the_schema(self) -> None:
        """The editor's schema shows neither key."""
        text = json.dumps(json_schema())
        assert "default_auto_spawn" not in text and "vision_timeout" not in text

    def test_the_prompt_key_names_the_prompts_and_their_folder(self) -> None:
        """A worker's `prompt` description names every built-in prompt and the folder they
        are in (it pointed at a folder that had moved)."""
        described = WorkerProfile.model_fields["prompt"].description or ""
        folder = re.search(r"orchestra/\S+/prompts/", described)
        assert folder is not None, described
        assert all((REPO / folder.group(0) / f"{n}.md").is_file() for n in PROMPT_NAMES)
        assert all(name in described for name in PROMPT_NAMES)


class TestWorkers:
    """Worker profiles are checked when the config loads."""

    @pytest.mark.parametrize(
        "profile",
        [
            "tester: {role: coder, runtime: docker}",
            "tester: {role: coder, runtime: docker, docker: {network: none}}",
            'coder: {role: coder, runtime: docker, docker: {image: ""}}',
        ],
        ids=["no-docker-section", "no-image", "empty-image"],
    )
    def test_docker_without_image(self, tmp_path: Path, no_user_file: Path, profile: str) -> None:
        """A docker worker without an image is rejected, naming the file and the worker.

        (The built-in workers carry a default image, so a new worker id shows the rule.)
        """
        write(tmp_path / PROJECT_FILE, f"workers:\n  {profile}\n")
        worker = profile.partition(":")[0]
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path, environ={}, user_file=no_user_file)
        message = str(caught.value)
        assert str(tmp_path / PROJECT_FILE) in message
        assert f"workers.{worker}" in message

    def test_process_runtime_needs_no_image(self, tmp_path: Path, no_user_file: Path) -> None:
        """A process worker loads without any docker section."""
        write(
            tmp_path / PROJECT_FILE,
            'workers:\n  tester: {role: coder, agent: command, runtime: process, command: ["true"]}\n',
        )
        cfg = load_config(tmp_path, environ={}, user_file=no_user_file).config
        assert cfg.workers["tester"].runtime == ProcessConfig()


class TestCheckedInConfig:
    """The repository's own orchestra.yaml is conservative: nothing runs on its own."""

    @pytest.fixture
    def config(self, no_user_file: Path) -> OrchestraConfig:
        if not CHECKED_IN.is_file():
            pytest.skip(f"{CHECKED_IN} is not written yet")
        # Only the checked-in file: a developer's orchestra.local.yaml must not change the verdict.
        return load_config(None, overlays=[CHECKED_IN], environ={}, user_file=no_user_file).config

    def test_triggers_disabled(self, config: OrchestraConfig) -> None:
        """Every trigger in the checked-in config is disabled."""
        triggers = config.workflows.triggers
        assert [
            t.enabled for t in (triggers.infinite_orchestra, triggers.self_improve_on_idle)
        ] == [
            False,
            False,
        ]
        assert set(type(triggers).model_fields) == {"infinite_orchestra", "self_improve_on_idle"}

    def test_no_debug(self, config: OrchestraConfig) -> None:
        """ui.debug is off in the checked-in config."""
        assert config.ui.debug is False

    def test_no_enabled_anywhere(self) -> None:
        """No `enabled: true` hides anywhere in the checked-in YAML."""
        if not CHECKED_IN.is_file():
            pytest.skip(f"{CHECKED_IN} is not written yet")

        def enabled(node: object) -> list[object]:
            if isinstance(node, dict):
                found = [v for k, v in node.items() if k == "enabled" and v is not False]
                return found + [x for v in node.values() for x in enabled(v)]
            if isinstance(node, list):
                return [x for v in node for x in enabled(v)]
            return []

        assert enabled(yaml.safe_load(CHECKED_IN.read_text(encoding="utf-8"))) == []


class TestServerSection:
    """`server:` picks the user-level Prefect server or one of the project's own, strictly."""

    def test_default_is_the_user_level_server(self, tmp_path: Path, no_user_file: Path) -> None:
        server = load_config(tmp_path, environ={}, user_file=no_user_file).config.server
        assert server.scope is None
        assert not server.own
        assert server.idle_stop_minutes == 60

    @pytest.mark.parametrize(
        ("text", "own"),
        [
            ("scope: project\n", True),
            ("scope: user\n", False),
            ("database: postgres\n", True),
            ("scope: project\n  database: postgres\n", True),
            ("idle_stop_minutes: null\n", False),
        ],
    )
    def test_own_server(self, tmp_path: Path, no_user_file: Path, text: str, own: bool) -> None:
        write(tmp_path / PROJECT_FILE, f"server:\n  {text}")
        assert load_config(tmp_path, environ={}, user_file=no_user_file).config.server.own is own

    @pytest.mark.parametrize(
        ("text", "said"),
        [
            ("scope: shared\n", "server.scope"),
            ("scope: user\n  database: postgres\n", "set server.scope: project"),
            ("idle_stop_minutes: 0\n", "server.idle_stop_minutes"),
            ("idle_stop_mins: 5\n", "unknown key 'server.idle_stop_mins'"),
        ],
    )
    def test_bad_values_name_the_key(
        self, tmp_path: Path, no_user_file: Path, text: str, said: str
    ) -> None:
        write(tmp_path / PROJECT_FILE, f"server:\n  {text}")
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path, environ={}, user_file=no_user_file)
        assert str(tmp_path / PROJECT_FILE) in str(caught.value)
        assert said in str(caught.value)

    def test_user_file_sets_the_idle_time(self, tmp_path: Path) -> None:
        """The user-level server's idle time can live in the user's own config file."""
        user = write(tmp_path / "user.yaml", "server:\n  idle_stop_minutes: 240\n")
        server = load_config(None, environ={}, user_file=user).config.server
        assert server.idle_stop_minutes == 240
