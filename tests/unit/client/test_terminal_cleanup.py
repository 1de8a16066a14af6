"""Every terminal path of a sync wait leaves nothing: no ``cylon:{job}:*`` key, no ``cylon-*`` temp dir.

Real Valkey, real local workers. The temp dirs are counted in a per-test ``tempfile.tempdir``
(other runs on the machine share /tmp), the keys by ``SCAN cylon:{job}:*``.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client import JobClient
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.client.processes import process_alive  # a zombie counts as exited
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime.errors import ExecutorError, JobFailedError, WorkerTimeoutError
from airflow_provider_cylon.runtime.spec import JobSpec
from airflow_provider_cylon.runtime.worker import STALL_ENV


@pytest.fixture()
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's ``tempfile`` directory, where the executor makes its log dirs."""
    root = tmp_path / "tmp"
    root.mkdir()
    # The warm host's socket stays where it was: a Unix socket path must be short (108 bytes).
    monkeypatch.setenv("CYLON_WARM_DIR", str(Path(tempfile.gettempdir()) / f"cylonwarm-{os.getuid()}"))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _cylon_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("cylon-"))


def _keys(redis_client: Any, job_id: str) -> list[str]:
    return sorted(redis_client.scan_iter(match=f"cylon:{job_id}:*"))


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    pq.write_table(pa.table({"k": list(range(200)), "v": list(range(200))}), tmp_path / "in.parquet")
    return tmp_path / "in.parquet"


def _sort(data: Path, out: Path, **kwargs: Any) -> JobSpec:
    return JobSpec.for_op("sort", [str(data)], str(out), by=["k"], world_size=2, timeout_s=60, **kwargs)


def test_success_leaves_no_key_and_no_dir(redis_url: str, redis_client: Any, job_id: str, data: Path,
                                          tmp_path: Path, temp_root: Path) -> None:
    result = run_job(_sort(data, tmp_path / "out"), redis_url=redis_url, job_id=job_id)
    assert result["rows"] == 200
    assert _keys(redis_client, job_id) == [] and _cylon_dirs(temp_root) == []


def test_failure_logs_the_tail_then_leaves_no_key_and_no_dir(redis_url: str, redis_client: Any, job_id: str,
                                                             data: Path, tmp_path: Path, temp_root: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    spec = JobSpec.for_op("groupby", [str(data)], str(tmp_path / "out"), by="nope", aggs={"v": "sum"},
                          world_size=2, timeout_s=60)
    with pytest.raises(JobFailedError) as failed:
        run_job(spec, redis_url=redis_url, job_id=job_id)
    # the failing rank's own log was read before its directory went
    assert f"rank {failed.value.failed_rank} log (last" in caplog.text and "nope" in caplog.text
    assert _keys(redis_client, job_id) == [] and _cylon_dirs(temp_root) == []


def test_timeout_leaves_no_key_and_no_dir(redis_url: str, redis_client: Any, job_id: str, data: Path,
                                          tmp_path: Path, temp_root: Path) -> None:
    executor = LocalExecutor(env={STALL_ENV: "0:120"})
    started = time.monotonic()
    with pytest.raises((WorkerTimeoutError, JobFailedError)):
        run_job(_sort(data, tmp_path / "out"), redis_url=redis_url, job_id=job_id, timeout_s=3, executor=executor)
    executor.close()
    assert time.monotonic() - started < 90
    assert _keys(redis_client, job_id) == [] and _cylon_dirs(temp_root) == []


def test_cancel_then_finish_stops_workers_and_leaves_nothing(redis_url: str, redis_client: Any, job_id: str,
                                                             data: Path, tmp_path: Path, temp_root: Path) -> None:
    jobs = JobClient(redis_url, lambda: LocalExecutor(env={STALL_ENV: "0:120"}))
    try:
        handle = jobs.submit(_sort(data, tmp_path / "out"), job_id)
        assert _cylon_dirs(temp_root) == [Path(handle.extra["log_dir"]).name]
        assert jobs.finish(job_id, "cancelled by the test", handle=handle) > 0
        # The stalled rank is killed; the other one's run ended with the abort, and a resident
        # whose run failed leaves right after reporting it (a zombie until its host reaps it).
        deadline = time.monotonic() + 10
        while any(process_alive(pid) for pid in handle.extra["pids"]):
            assert time.monotonic() < deadline, "a worker process outlived the cancelled job"
            time.sleep(0.05)
        assert _keys(redis_client, job_id) == [] and _cylon_dirs(temp_root) == []
        assert jobs.finish(job_id, "again") == 0  # idempotent
    finally:
        jobs.close()


def test_a_submit_that_cannot_start_workers_leaves_nothing(redis_url: str, redis_client: Any, job_id: str,
                                                           data: Path, tmp_path: Path, temp_root: Path) -> None:
    jobs = JobClient(redis_url, lambda: LocalExecutor(python=str(tmp_path / "no-such-python")))
    try:
        with pytest.raises(ExecutorError, match="starting 2 workers with the local executor failed"):
            jobs.submit(_sort(data, tmp_path / "out"), job_id)
        assert _cylon_dirs(temp_root) == []
        jobs.cleanup(job_id)  # what run_job and the operator do on every path
        assert _keys(redis_client, job_id) == []
    finally:
        jobs.close()


def test_throwaway_valkey_leaves_no_dir(data: Path, tmp_path: Path, temp_root: Path) -> None:
    result = run_job(_sort(data, tmp_path / "out").with_(world_size=1))  # no URL: an embedded Valkey for the job
    assert result["rows"] == 200 and _cylon_dirs(temp_root) == []
