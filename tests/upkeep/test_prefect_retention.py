"""Prefect's database stays bounded: finished flow runs older than limits.keep_days are deleted
through the API (a real Prefect API, the session's test harness)."""

from __future__ import annotations

import time
from uuid import UUID

import pytest


def _run_ids(name: str) -> set[UUID]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
    return {r.id for r in runs}


def _artifacts(key: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return len(found)


@pytest.mark.prefect
class TestPrunePrefectRuns:
    def test_old_finished_runs_go_new_ones_stay(self, prefect_api: str) -> None:
        from prefect import flow
        from prefect.artifacts import create_markdown_artifact

        from orchestra.prefect.retention import prune_prefect_runs

        @flow(name="orch11-retention-probe")
        def probe() -> int:
            create_markdown_artifact(markdown="# report", key="orch11-retention-probe")
            return 1

        for _ in range(3):
            probe()
        assert len(_run_ids("orch11-retention-probe")) == 3
        assert _artifacts("orch11-retention-probe") == 3
        only = ("orch11-retention-probe",)
        assert prune_prefect_runs(365.0, flow_names=only) == 0  # nothing is a year old
        assert len(_run_ids("orch11-retention-probe")) == 3
        time.sleep(1.0)
        deleted = prune_prefect_runs(0.5 / 86400, flow_names=only)  # older than half a second
        assert deleted == 3
        assert _run_ids("orch11-retention-probe") == set()
        assert _artifacts("orch11-retention-probe") == 0

    def test_keep_all(self, prefect_api: str) -> None:
        from orchestra.prefect.retention import prune_prefect_runs

        assert prune_prefect_runs(None) == 0

    def test_unreachable_api_is_not_an_error(self) -> None:
        """Retention is best-effort: a dead API is a warning and 0, never a failed cycle."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from orchestra.prefect.retention import prune_prefect_runs

        with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
            assert prune_prefect_runs(1.0) == 0
