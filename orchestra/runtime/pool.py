"""The runtimes of one process, reused: one per distinct runtime setting and run.

A cycle asks for a runtime once per step; building a Docker runtime negotiates the engine's API
version, so the pool keeps each one for the run it was built for.
"""

from __future__ import annotations

from orchestra.config.models import WorkerProfile
from orchestra.runtime import EngineClientFactory, build_runtime
from orchestra.runtime.base import WorkerRuntime


class RuntimePool:
    """Builds and keeps runtimes for (settings, run); pass it to the engine and preflight."""

    def __init__(
        self,
        project_id: str,
        *,
        kill_grace: float = 10.0,
        engine_client: EngineClientFactory | None = None,
    ) -> None:
        self.project_id = project_id
        self.kill_grace = kill_grace
        self.engine_client = engine_client
        self._runtimes: dict[str, WorkerRuntime] = {}

    def get(self, profile: WorkerProfile, run_id: str) -> WorkerRuntime:
        """The runtime for ``profile`` in run ``run_id``."""
        settings = profile.runtime
        key = f"{run_id}:{type(settings).__name__}:{settings.model_dump_json()}"
        if key not in self._runtimes:
            self._runtimes[key] = build_runtime(
                settings,
                project_id=self.project_id,
                run_id=run_id,
                kill_grace=self.kill_grace,
                engine_client=self.engine_client,
                kept=True,
            )
        return self._runtimes[key]

    def close(self) -> None:
        """Close every runtime it built (what they kept for their steps goes); they stay usable."""
        for runtime in self._runtimes.values():
            runtime.close()

    def __enter__(self) -> RuntimePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
