"""deployments/: pools with their job-variable defaults on a real Prefect API, and the served
deployments built from prefect.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments import pools, serve

pytestmark = pytest.mark.prefect


class TestPools:
    def test_pools_are_created_then_updated_with_their_defaults(
        self, prefect_api: str, tmp_path: Path
    ) -> None:
        """Applying pools.yaml twice creates the pool, then updates it; defaults are set."""
        from prefect.client.orchestration import get_client

        spec = tmp_path / "pools.yaml"
        spec.write_text(
            "pools:\n  orchestra-test-pool:\n    type: process\n"
            "    job_variables:\n      stream_output: false\n      env: {A: b}\n",
            encoding="utf-8",
        )
        assert pools.apply_pools(pools.load_pools(spec)) == [
            "created orchestra-test-pool (process)"
        ]
        assert pools.apply_pools(pools.load_pools(spec)) == [
            "updated orchestra-test-pool (process)"
        ]
        with get_client(sync_client=True) as client:
            pool = client.read_work_pool("orchestra-test-pool")
        props = pool.base_job_template["variables"]["properties"]
        assert props["stream_output"]["default"] is False
        assert props["env"]["default"] == {"A": "b"}

    def test_an_unknown_job_variable_names_the_known_ones(self) -> None:
        """A typo in pools.yaml stops with the variable and the list of valid ones."""
        with pytest.raises(SystemExit, match=r"stream_outptu.*stream_output"):
            pools.job_template("process", {"stream_outptu": True})

    def test_the_shipped_pools_file_is_valid(self) -> None:
        """deployments/pools.yaml declares the `orchestra` pool prefect.yaml uses."""
        declared = pools.load_pools()
        assert "orchestra" in declared
        pools.job_template(declared["orchestra"]["type"], declared["orchestra"]["job_variables"])


class TestServe:
    def test_every_deployment_of_prefect_yaml_is_served_inactive(self, tmp_path: Path) -> None:
        """serve builds one deployment per prefect.yaml entry, for the project, schedules off."""
        built = serve.build(str(tmp_path), active=False)
        names = sorted(d.name for d in built)
        assert names == sorted(d["name"] for d in serve.declared())
        for deployment in built:
            assert deployment.parameters["project"] == str(tmp_path)
            assert all(not s.active for s in deployment.schedules)
        scheduled = [d for d in built if d.schedules]
        assert {d.name for d in scheduled} == {"infinite-orchestra", "self-improve"}
