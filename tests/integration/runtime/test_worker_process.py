"""Local worker processes: set up like a Lambda (no optional extras), cores shared, stats reported."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client.executors.local import LocalExecutor, threads_per_worker, worker_defaults
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime.spec import JobSpec

pytestmark = pytest.mark.integration("redis")


def test_worker_process_hides_numpy_pandas_and_opentelemetry_and_keeps_pyarrow_working() -> None:
    script = textwrap.dedent('''
        import sys
        from airflow_provider_cylon.runtime import worker_process
        sys.meta_path.insert(0, worker_process.WithoutOptionalExtras())
        import pyarrow as pa, redis
        import airflow_provider_cylon.runtime.handler  # everything a worker imports
        assert pa.array([1, None]).to_pylist() == [1, None]   # pyarrow probes pandas here
        assert pa.table({"a": [1]}).num_rows == 1
        try:
            import pandas  # noqa: F401
        except ImportError as err:
            print("blocked:", err)
        else:
            raise SystemExit("pandas imported")
        loaded = [m for m in sys.modules if m.split(".")[0] in ("numpy", "pandas", "opentelemetry")]
        assert not loaded, loaded
        print("OK")
    ''')
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "not used by Cylon workers" in out.stdout and out.stdout.strip().endswith("OK")


def test_worker_process_exit_codes_are_the_handlers() -> None:
    usage = subprocess.run([sys.executable, "-m", "airflow_provider_cylon.runtime.worker_process"],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "usage" in usage.stderr
    bad = subprocess.run([sys.executable, "-m", "airflow_provider_cylon.runtime.worker_process", '{"job_id": 1}'],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invocation event field" in bad.stderr


def _sort_job(tmp_path: Path) -> JobSpec:
    pq.write_table(pa.table({"k": list(range(50_000, 0, -1))}), tmp_path / "in.parquet")
    return JobSpec.for_op("sort", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by="k", channel="tcp")


def test_workers_share_the_cores_and_report_threads_and_peak_memory(tmp_path: Path, redis_url: str) -> None:
    manifest = run_job(_sort_job(tmp_path), world_size=2, redis_url=redis_url)
    assert manifest["rows"] == 50_000
    for status in manifest["workers"]:
        assert status["threads"] == threads_per_worker(2)
        # at least the interpreter and pyarrow; far below a GiB for 50k rows
        assert 20 << 20 < status["peak_memory_bytes"] < 1 << 30


def test_peak_memory_is_the_workers_own_not_its_parents(tmp_path: Path, redis_url: str) -> None:
    # Linux carries a process's pre-exec RSS into ru_maxrss: a worker started by a big
    # parent must still report its own high-water mark.
    ballast = bytearray(600 << 20)  # 600 MiB resident in this (the submitting) process
    ballast[::4096] = b"x" * len(ballast[::4096])
    manifest = run_job(_sort_job(tmp_path), world_size=1, redis_url=redis_url)
    del ballast
    assert manifest["workers"][0]["peak_memory_bytes"] < 400 << 20


def test_an_explicit_thread_count_wins(tmp_path: Path, redis_url: str) -> None:
    executor = LocalExecutor(env={"CYLON_NUM_THREADS": "1"})
    manifest = run_job(_sort_job(tmp_path), world_size=1, redis_url=redis_url, executor=executor)
    assert [s["threads"] for s in manifest["workers"]] == [1]


def test_threads_per_worker_divides_and_never_reaches_zero() -> None:
    cores = threads_per_worker(1)
    assert cores >= 1
    assert threads_per_worker(cores * 4) == 1
    assert threads_per_worker(2) == max(1, cores // 2)
    assert worker_defaults(2) == {"CYLON_NUM_THREADS": str(threads_per_worker(2)), "MIMALLOC_ALLOW_THP": "0",
                                  "MIMALLOC_PURGE_DELAY": "-1"}
