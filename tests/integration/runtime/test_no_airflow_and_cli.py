"""The runtime works where Airflow is absent (the Lambda image); the CLI runs jobs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.runtime import storage

pytestmark = pytest.mark.integration("redis")

BLOCKER = textwrap.dedent('''
    import sys

    class _NoAirflow:
        """Meta-path finder that makes `import airflow` fail, as in the Lambda image."""

        def find_spec(self, name, path=None, target=None):
            if name == "airflow" or name.startswith("airflow."):
                raise ImportError(f"airflow is blocked in this test (import of {name!r})")
            return None

    sys.meta_path.insert(0, _NoAirflow())
''')


def test_runtime_runs_a_job_with_airflow_blocked(tmp_path: Path, redis_url: str) -> None:
    # sitecustomize installs the blocker in this process and in every worker it starts
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    pq.write_table(pa.table({"k": [3, 1, 2, 1]}), tmp_path / "in.parquet")
    script = textwrap.dedent(f'''
        import sys
        try:
            import airflow  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker did not work")
        import airflow_provider_cylon.runtime
        import airflow_provider_cylon.runtime.worker, airflow_provider_cylon.runtime.handler
        import airflow_provider_cylon.client.run, airflow_provider_cylon.client.executors.local
        import airflow_provider_cylon.client.executors.base, airflow_provider_cylon.cli
        from airflow_provider_cylon.client.run import run_job
        from airflow_provider_cylon.runtime.spec import JobSpec
        spec = JobSpec.for_op("sort", [{str(tmp_path / "in.parquet")!r}], {str(tmp_path / "out")!r}, by="k",
                              channel="tcp")
        manifest = run_job(spec, world_size=2, redis_url={redis_url!r})
        assert manifest["rows"] == 4, manifest
        assert not [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")]
        print("OK")
    ''')
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().endswith("OK")
    assert storage.read_output(str(tmp_path / "out")).column("k").to_pylist() == [1, 1, 2, 3]


def test_cli_run_and_worker(tmp_path: Path, redis_url: str) -> None:
    pq.write_table(pa.table({"k": [1, 2, 2, 3], "v": [1.0, 2.0, 3.0, 4.0]}), tmp_path / "in.parquet")
    spec = {"op": "groupby", "inputs": [str(tmp_path / "in.parquet")], "output": str(tmp_path / "out"),
            "by": "k", "aggs": {"v": ["sum"]}, "channel": "redis"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    cli = [sys.executable, "-m", "airflow_provider_cylon.cli", "--log-level", "WARNING"]
    proc = subprocess.run([*cli, "run", str(tmp_path / "spec.json"), "-n", "2", "--redis-url", redis_url],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads(proc.stdout)
    assert manifest["rows"] == 3 and len(manifest["workers"]) == 2
    got = storage.read_output(str(tmp_path / "out")).sort_by("k")
    assert got.column("v_sum").to_pylist() == [1.0, 5.0, 4.0]

    bad = subprocess.run([*cli, "worker", json.dumps({"protocol": 1, "job_id": "j"})], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "redis_url" in bad.stderr

    spec["by"] = "missing"
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    failed = subprocess.run([*cli, "run", str(tmp_path / "spec.json"), "-n", "2", "--redis-url", redis_url],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and "missing" in failed.stderr


def test_run_job_without_redis_starts_and_stops_an_embedded_valkey(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    import redis

    import airflow_provider_cylon.client.run as local_mod
    from airflow_provider_cylon.runtime.spec import JobSpec

    urls: list[str] = []
    real = local_mod.embedded_valkey

    @contextlib.contextmanager
    def recording():
        with real() as url:
            urls.append(url)
            yield url

    monkeypatch.setattr(local_mod, "embedded_valkey", recording)
    pq.write_table(pa.table({"k": [1, 1, 2]}), tmp_path / "in.parquet")
    spec = JobSpec.for_op("unique", [str(tmp_path / "in.parquet")], str(tmp_path / "out"))
    manifest = local_mod.run_job(spec, world_size=2)  # no redis_url
    assert manifest["rows"] == 2 and len(urls) == 1
    with pytest.raises(redis.ConnectionError):  # the server is gone after the job
        redis.Redis.from_url(urls[0], socket_connect_timeout=1).ping()
