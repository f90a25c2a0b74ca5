"""``python -m flows.run``: one ad-hoc cycle against any git repository, with progress.

Exit codes: 0 the cycle succeeded; 1 it ran but a task failed or the queue stayed empty, or it
was skipped (kill switch, another cycle running); 2 bad input (config, project, agent, Docker)
found before anything was claimed. The command line lives in :mod:`orchestra.cli.run_cycle`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from orchestra.cli.run_cycle import main as run_cycle


def _cycle_flow() -> Any:
    # Imported late: Prefect reads its settings (PREFECT_HOME, ...) on import.
    from flows.cycle import infinite_orchestra

    return infinite_orchestra


def main(argv: Sequence[str] | None = None) -> int:
    """Run one cycle and return the process exit code."""
    return run_cycle(argv, _cycle_flow)


if __name__ == "__main__":
    sys.exit(main())
