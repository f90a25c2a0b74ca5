"""Configuration models (pydantic v2). Every field has a description: it becomes the JSON Schema.

Loading is layered (see :mod:`orchestra.config.loader`): built-in defaults → user file →
project ``orchestra.yaml`` → ``orchestra.local.yaml`` → ``--config`` overlay → ``ORCHESTRA_*`` env.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from orchestra.config.agentcli import AgentCliConfig
from orchestra.config.git import GitConfig, Integration  # noqa: F401 - importable from here too
from orchestra.config.retired import drop_retired
from orchestra.config.runtimes import (  # noqa: F401 - the runtime configs, importable from here too
    NO_RUNTIME,
    DockerConfig,
    MountConfig,
    ProcessConfig,
    RuntimeSettings,
    legacy_runtime,
)
from orchestra.config.server import ServerConfig, ServerDatabase  # noqa: F401 - importable from here too
from orchestra.config.spending import ModelPrice, SpendingLimits, UsageWindow
from orchestra.config.strict import Strict

Role = Literal["planner", "architect", "coder", "reviewer", "fixer"]


AgentKind = Literal["opencode", "claude", "codex", "aider", "command"]


ModelPolicy = Literal["dynamic", "sticky"]


DispatchMode = Literal["local", "pool"]


StepWhen = Literal["always", "changes_requested"]


#: Roles whose steps may write into the task workspace; the others see it read-only.
WRITING_ROLES: frozenset[str] = frozenset({"coder", "fixer"})


class TasksConfig(Strict):
    default_timeout: int = Field(600, ge=1)
    """Seconds a step may run when neither the step nor the worker sets its own timeout."""
    default_model_policy: ModelPolicy = "dynamic"
    """dynamic: each step uses its worker's model (or the task's `model`); sticky: the first
    model used in a task is kept for all its later steps."""
    max_attempts: int = Field(3, ge=1)
    """Failed runs of one task before it moves to `failed/` for good."""

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return drop_retired("tasks", data)


class UiConfig(Strict):
    debug: bool = False
    """Verbose logging of every agent output line at debug level."""

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return drop_retired("ui", data)


class WorkerProfile(Strict):
    role: Role
    """What this worker does in a workflow; decides its write access."""
    agent: AgentKind = "opencode"
    """Agent CLI adapter; `command` runs `command:` with placeholders."""
    command: list[str] | None = None
    """argv for agent `command`; placeholders {prompt_file} {workspace} {output_dir} {model}."""
    model: str | None = None
    """Model name passed to the agent CLI; none = the CLI's own default."""
    runtime: RuntimeSettings
    """Where the agent runs: `{kind: docker, image: ...}`, a sandboxed container per step, or
    `{kind: process}`, a native process. The older `runtime: docker` with a `docker:` section
    is still read (and mapped onto this)."""
    prompt: str | None = None
    """Built-in prompt template name: planner, plan, implement, review, fix or resolve (the
    files in orchestra/engine/prompts/); default: the step's own."""
    timeout: int | None = Field(None, ge=1)
    """Seconds one step of this worker may run (default: tasks.default_timeout)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment variables set for the agent (never logged)."""
    pass_env: list[str] = Field(default_factory=list)
    """Host environment variables passed through (names; `*` patterns allowed)."""
    cli: AgentCliConfig = Field(default_factory=AgentCliConfig)
    """The agent CLI's own flags, settings file and login file for this worker."""
    fallback: list[str] = Field(default_factory=list, examples=[["coder-codex", "coder-aider"]])
    """Worker profiles that take over a step at once, in this order, when this one fails for
    the model API's reasons (rate limit, quota, overload, outage); they may use another CLI and
    another provider. The failed provider cools down meanwhile (docs/24-7.md)."""
    window: UsageWindow | None = None
    """A subscription's rolling window for this profile: at most so many agent-minutes or
    steps per so many hours; once used up, no task is claimed for it until it frees."""

    @model_validator(mode="before")
    @classmethod
    def _accept_legacy_runtime(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = legacy_runtime(data)
        if data.get("runtime") is None:
            raise ValueError(NO_RUNTIME)
        if isinstance(data["runtime"], dict) and "kind" not in data["runtime"]:
            data = {**data, "runtime": {"kind": "docker", **data["runtime"]}}
        return data

    @model_validator(mode="after")
    def _check_command(self) -> WorkerProfile:
        if self.cli.auth_file and self.agent != "codex":
            msg = (
                f"cli.auth_file is for codex, not {self.agent!r} (claude: CLAUDE_CODE_OAUTH_TOKEN)"
            )
            raise ValueError(msg)
        if self.agent == "command" and not self.command:
            msg = "agent `command` needs `command: [executable, args...]`"
            raise ValueError(msg)
        return self


class StepConfig(Strict):
    id: str = Field(..., pattern=r"^[a-z][a-z0-9_-]*$")
    """Step id, shown in run names (`task-03 · implement (coder)`)."""
    worker: str
    """Worker id from `workers` that runs this step."""
    title: str | None = None
    """Heading of this step's block in the carry; default: the id capitalised."""
    prompt: str | None = None
    """Prompt template name; default: the worker's prompt, else the step id."""
    when: StepWhen = "always"
    """always, or only after a review asked for changes (then the review runs again)."""
    timeout: int | None = Field(None, ge=1)
    """Seconds this step may run; overrides the worker's timeout."""


def _default_steps() -> list[StepConfig]:
    return [
        StepConfig(id="plan", worker="architect", title="Plan"),
        StepConfig(id="implement", worker="coder", title="Implement"),
        StepConfig(id="review", worker="reviewer", title="Review"),
        StepConfig(id="fix", worker="fixer", title="Fix", when="changes_requested"),
    ]


class InfiniteOrchestraConfig(Strict):
    goal: str = "Improve the project: fix failing tests, then small, safe improvements."
    """What the planner works towards."""
    queue_dir: str = ".orchestra/queue"
    """Task files waiting to run (relative to the project, may not escape it)."""
    archive_dir: str = ".orchestra/done"
    """Where succeeded task files are archived."""
    running_dir: str = ".orchestra/running"
    """Claimed task files while they run."""
    failed_dir: str = ".orchestra/failed"
    """Task files that failed max_attempts times, with an error report beside each."""
    rejected_dir: str = ".orchestra/rejected"
    """Malformed or oversize task files, with the reason beside each."""
    runs_dir: str = ".orchestra/runs"
    """Per-step prompts, outputs and handoffs."""
    plan_workflow: Literal["infinite-orchestra-plan"] = "infinite-orchestra-plan"
    """Flow that fills the queue (the one planning flow Orchestra ships)."""
    task_workflow: Literal["roocode-boomerang"] = "roocode-boomerang"
    """Flow that runs one task (its steps are configured under workflows.roocode_boomerang)."""
    planner: str = "planner"
    """Worker id of the planner."""
    max_tasks_per_cycle: int = Field(4, ge=1)
    """Tasks taken from the queue per cycle."""
    max_queue: int = Field(8, ge=1)
    """Bound on the queue: the planner writes at most this many task files."""
    continue_on_failure: bool = True
    """Run the next task after a failed one (false: stop the cycle at the first failure)."""
    parallel: int = Field(1, ge=1, le=64)
    """Claimed tasks that run at once, each in its own clone (k > 1 wants the Prefect server
    on Postgres: `server.database: postgres`; see docs/scale-out.md)."""
    dispatch: DispatchMode = "local"
    """local: tasks run as subflows in the cycle's process; pool: each task runs as a run of
    the roocode-boomerang deployment on the work pool `pool` (any worker host; needs
    `git.remote`)."""
    pool: str = "orchestra-tasks"
    """Work pool of the roocode-boomerang deployment when `dispatch: pool`."""


class TriggerConfig(Strict):
    enabled: bool = False
    """Switch the schedule on (also needs `prefect deploy`; see docs/24-7.md)."""
    idle_minutes: int = Field(30, ge=0)
    """A scheduled cycle skips when a human touched the repository this recently."""
    cooldown_minutes: int = Field(30, ge=1)
    """Interval between scheduled cycles."""


class TriggersConfig(Strict):
    infinite_orchestra: TriggerConfig = Field(default_factory=TriggerConfig)
    """The scheduled cycle."""
    self_improve_on_idle: TriggerConfig = Field(default_factory=TriggerConfig)
    """The self-improve preset, on the same idle rule."""


class SetupConfig(Strict):
    command: str = Field(..., min_length=1, examples=["pip install -e . && cp /secrets/.env ."])
    """Shell command (`sh -c`) run once per task in its clone, before the first agent step, in
    the runtime of the first writing step: install dependencies, write `.env` files."""
    env: dict[str, str] = Field(default_factory=dict)
    """Variables only the set-up sees (registry tokens, ...); never an agent, never logged."""
    pass_env: list[str] = Field(default_factory=list)
    """Host variables only the set-up sees (names; `*` patterns allowed)."""
    worker: str | None = None
    """Worker whose runtime (image, network) the set-up runs in; default: the first writing
    step's worker."""
    timeout: int = Field(600, ge=1)
    """Seconds the set-up may run."""


class BoomerangConfig(Strict):
    steps: list[StepConfig] = Field(default_factory=_default_steps, min_length=1)
    """Steps of one task, in order."""
    max_steps: int = Field(8, ge=1)
    """Bound on steps run for one task, fix/review rounds included."""
    max_task_chars: int = Field(12_000, ge=100)
    """Task files larger than this are quarantined."""
    max_carry_chars: int = Field(24_000, ge=1000)
    """Bound on the carry of earlier handoffs given to a step; oldest dropped first."""
    per_step_timeout: int | None = Field(None, ge=1)
    """Seconds any step may run; overrides worker timeouts when set."""
    setup: SetupConfig | None = None
    """A command run in each task's clone before its first agent step, with secrets no agent
    step sees; what it writes stays in the clone and out of the result (docs/security.md)."""


class WorkflowsConfig(Strict):
    infinite_orchestra: InfiniteOrchestraConfig = Field(default_factory=InfiniteOrchestraConfig)
    """The cycle: plan when empty, then run tasks."""
    triggers: TriggersConfig = Field(default_factory=TriggersConfig)
    """Schedules; all off unless switched on."""
    roocode_boomerang: BoomerangConfig = Field(default_factory=BoomerangConfig)
    """The per-task workflow."""


class LimitsConfig(SpendingLimits):
    max_consecutive_failures: int = Field(3, ge=1)
    """Failures in a row, across cycles, after which the cycle stops and the deployment's
    schedules pause: failed tasks, failed planner runs, infrastructure failures and cycles that
    found no task all count (kept in `.orchestra/breaker.json`); a done task resets the count."""
    max_cycles_per_day: int = Field(48, ge=1)
    """Cycles started per UTC day before further cycles skip."""
    task_wall_clock: int = Field(3600, ge=1)
    """Seconds one task may take across all its steps."""
    max_cost_usd_per_cycle: float | None = Field(None, ge=0)
    """Stop taking tasks once agents reported this much cost in a cycle."""
    kill_grace_seconds: float = Field(10.0, ge=0)
    """Seconds between SIGTERM/stop and SIGKILL/kill when a step is stopped."""
    max_parallel_agents: int | None = Field(8, ge=1)
    """Agent steps running at once across every cycle, project and host sharing the Prefect
    server (the global concurrency limit `orchestra-agents`); null: no bound."""
    agent_starts_per_minute: float | None = Field(None, gt=0)
    """Agent steps started per minute across everything sharing the server (the rate limit
    `orchestra-agent-starts`, for model APIs with quotas); null: no rate limit."""
    keep_runs: int = Field(50, ge=1)
    """Run folders (prompts, outputs, reports) kept under runs_dir; older ones are pruned at
    the start of a cycle. Task files themselves are never deleted."""
    keep_days: float | None = Field(14.0, gt=0)
    """Finished Prefect flow runs (and their logs) older than this many days are deleted
    through the API at the end of each cycle; null keeps them all."""
    keep_done: int | None = Field(200, ge=0)
    """Task files kept loose in each of done/ and failed/ (rejected/ too); older ones are moved
    into a compressed `archive-<month>.tar.gz` in that folder at the start of a cycle, never
    deleted. Null keeps them all loose."""


class MemoryConfig(Strict):
    backend: Literal["sqlite", "neo4j", "none"] = "sqlite"
    """Where the memory of past tasks lives."""
    path: str = ".orchestra/memory.sqlite3"
    """SQLite file (relative to the project)."""
    max_items: int = Field(1000, ge=10)
    """History kept per project; oldest trimmed."""


class LoggingConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level written."""
    file: str = ".orchestra/logs/orchestra.jsonl"
    """JSONL log file (relative to the project); the LOG_FILE env var overrides it."""
    max_bytes: int = Field(20_000_000, ge=10_000)
    """Size at which the log file is rotated to `<file>.1` (one old file is kept)."""
    agent_head_lines: int = Field(40, ge=0)
    """Lines of each step's agent output sent to the logs (and Prefect's) from its start; the
    full output is always in the step's run folder (`output.log`). `ui.debug` sends every line."""
    agent_tail_lines: int = Field(40, ge=0)
    """Lines of each step's agent output sent to the logs from its end (after a line that says
    how many were left out)."""


def _default_workers() -> dict[str, WorkerProfile]:
    image = DockerConfig(image="orchestra-worker:latest")
    return {
        role_id: WorkerProfile(role=role, agent="opencode", runtime=image)
        for role_id, role in (
            ("planner", "planner"),
            ("architect", "architect"),
            ("coder", "coder"),
            ("reviewer", "reviewer"),
            ("fixer", "fixer"),
        )
    }


class OrchestraConfig(Strict):
    """Everything Orchestra reads from orchestra.yaml."""

    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        examples=["billing-api"],
    )
    """The project's name in run names, the `project:` tag and its id. Default: the
    repository's folder name on the host (under the Compose stack, the folder mounted at
    /project, through ORCHESTRA_HOST_PATH_MAP)."""
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    """Defaults for every task."""
    ui: UiConfig = Field(default_factory=UiConfig)
    """UI checks and debug output."""
    workers: dict[str, WorkerProfile] = Field(default_factory=_default_workers)
    """Worker profiles by id."""
    workflows: WorkflowsConfig = Field(default_factory=WorkflowsConfig)
    """The cycle, its triggers and the per-task workflow."""
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    """Budgets and stop rules."""
    git: GitConfig = Field(default_factory=GitConfig)
    """Task isolation and integration of results."""
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    """Memory of what was done."""
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """Structured logs."""
    server: ServerConfig = Field(default_factory=ServerConfig)
    """Which Prefect server the cycles use (`orchestra server`): the user-level one, shared by
    every project, or one of the project's own."""
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)
    """Prices by model name, for CLIs that report tokens but no cost (codex, aider); a step of
    a model not listed here is reported as unpriced, never as $0."""

    @model_validator(mode="after")
    def _check_worker_refs(self) -> OrchestraConfig:
        planner = self.workflows.infinite_orchestra.planner
        refs = [("workflows.infinite_orchestra.planner", planner)] + [
            (f"workflows.roocode_boomerang.steps[{i}].worker", s.worker)
            for i, s in enumerate(self.workflows.roocode_boomerang.steps)
        ]
        if (setup := self.workflows.roocode_boomerang.setup) and setup.worker:
            refs.append(("workflows.roocode_boomerang.setup.worker", setup.worker))
        refs += [
            (f"workers.{wid}.fallback", fb) for wid, p in self.workers.items() for fb in p.fallback
        ]
        known = sorted(self.workers)
        for where, worker in refs:
            if worker not in self.workers:
                msg = f"{where} names worker {worker!r}, which is not defined; known: {known}"
                raise ValueError(msg)
        return self
