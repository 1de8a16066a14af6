"""dag.test() of the example pipeline, deferred and in the worker slot: the run leaves no job key and
no worker log dir (the keys go once execute_complete has read each outcome). The failure, timeout and
kill paths of the operators are in tests/unit/operators/test_af_terminal_cleanup.py."""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cylon_airflow_support import redis_client  # noqa: F401  (fixture)
from cylon_dag_support import load_dag

pytestmark = pytest.mark.integration("redis")


@pytest.mark.parametrize("deferrable", [True, False])
def test_a_dag_run_leaves_no_key_and_no_dir(airflow_db: str, cylon_conn: str, redis_client: Any,  # noqa: F811
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            deferrable: bool) -> None:
    import os

    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    # The warm host's socket stays where it was: a Unix socket path must be short (108 bytes).
    monkeypatch.setenv("CYLON_WARM_DIR", str(Path(tempfile.gettempdir()) / f"cylonwarm-{os.getuid()}"))
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))  # dag.test runs tasks here: their log dirs too
    before = set(redis_client.scan_iter(match="cylon:nightly_etl*"))
    dag = load_dag("nightly_etl.py", tmp_path / "data", monkeypatch, deferrable=deferrable)
    run = dag.test(logical_date=datetime(2026, 3, 4 if deferrable else 5, tzinfo=timezone.utc))
    assert run.state == "success"
    assert set(redis_client.scan_iter(match="cylon:nightly_etl*")) - before == set()
    assert [p.name for p in temp_root.iterdir() if p.name.startswith("cylon-")] == []
