"""What the Lambda image holds, proved without Docker: a clean virtualenv installed as
docker/Dockerfile.lambda installs the image, running real jobs through ``lambda_handler``.

The virtualenv gets the wheel built from this tree (``pip wheel``, the kernel compiled by
scikit-build-core/nanobind) with ``--no-deps`` plus exactly docker/requirements-lambda.txt,
as the image does. Worker processes of that virtualenv call
``airflow_provider_cylon.runtime.handler.lambda_handler(event, context)`` the way the Lambda
runtime does, against a real Valkey and local Parquet files; results match DuckDB.

The first run downloads the runtime wheels from PyPI and compiles the kernel (about
2 minutes on 2 cores); later runs reuse pip's cache and build/image-test/.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
from airflow_provider_cylon.runtime.event import build_events
from airflow_provider_cylon.runtime.spec import JobSpec

pytestmark = [pytest.mark.integration("redis"), pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "docker" / "requirements-lambda.txt"
HANDLER = "airflow_provider_cylon.runtime.handler.lambda_handler"

# What the Lambda runtime does: import the module named by CMD, call the function with the
# event and a context whose get_remaining_time_in_millis bounds the worker.
_INVOKE = """
import importlib, json, sys, time
module, _, func = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module), func)

class Context:
    function_name = "cylon-worker"
    aws_request_id = "req-" + sys.argv[3]
    def __init__(self, timeout_s):
        self._deadline = time.monotonic() + timeout_s
    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)

status = handler(json.loads(sys.argv[2]), Context(120.0))
airflow = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
import airflow_provider_cylon
print(json.dumps({"status": status, "airflow_modules": airflow,
                  "package_file": airflow_provider_cylon.__file__}, default=str))
"""


def _run(*cmd: str | Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def _clean_env() -> dict[str, str]:
    """The worker's environment: no PYTHONPATH, no virtualenv of ours, no repository on the path."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("PYTEST")}


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtualenv with the package installed exactly as the Lambda image installs it."""
    base = tmp_path_factory.mktemp("lambda-image")
    dist = base / "dist"
    # Same command as the image's build stage; a build dir of its own (reused across runs)
    # so it never races a developer's editable build in build/.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist,
         "-C", f"build-dir={ROOT}/build/image-test/{{wheel_tag}}", ROOT)
    wheels = sorted(dist.glob("airflow_provider_cylon-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run(*pip, "--no-deps", wheels[0])
    _run(*pip, "-r", REQUIREMENTS)
    return venv


def test_the_image_holds_the_runtime_and_not_airflow(image_venv: Path) -> None:
    py = image_venv / "bin" / "python"
    listed = {d["name"].lower() for d in json.loads(_run(py, "-m", "pip", "list", "--format=json").stdout)}
    assert "airflow-provider-cylon" in listed
    assert not {n for n in listed if n.startswith("apache-airflow")}, listed
    assert {"pyarrow", "redis", "tenacity", "boto3", "pyarrow-hotfix"} <= listed
    probe = ("import importlib.util, sys\n"
             "from airflow_provider_cylon import kernel\n"
             "import airflow_provider_cylon.runtime.handler as h\n"
             "assert callable(h.lambda_handler)\n"
             "assert importlib.util.find_spec('airflow') is None\n"
             "print(kernel.__file__)")
    out = _run(py, "-c", probe, cwd=image_venv, env=_clean_env()).stdout
    assert str(image_venv) in out  # the installed copy, not the repository's


def _write_inputs(data: Path) -> tuple[str, str]:
    left, right = data / "left", data / "right"
    left.mkdir(parents=True)
    right.mkdir(parents=True)
    for i in range(3):  # several files per input: ranks read different shares
        ks = [(i * 1000 + j) % 700 for j in range(1000)]
        pq.write_table(pa.table({"k": pa.array(ks, pa.int64()), "a": pa.array(range(i * 1000, i * 1000 + 1000))}),
                       left / f"part-{i}.parquet")
    for i in range(2):
        ks = [(i * 600 + j * 3) % 900 for j in range(600)]
        pq.write_table(pa.table({"k": pa.array(ks, pa.int64()), "b": [f"r{i}-{j}" for j in range(600)]}),
                       right / f"part-{i}.parquet")
    return str(left), str(right)


def _run_job_through_handler(venv: Path, redis_url: str, spec: JobSpec, extra_env: dict[str, str]) -> list[dict[str, Any]]:
    """Store the spec, start world_size handler processes in the clean venv, return their outputs."""
    job_id = f"img-{uuid.uuid4().hex[:10]}"
    JobCoordinator(connect(redis_url), job_id, ttl_s=600).put_spec(spec)
    events = build_events(job_id, redis_url, spec.world_size)
    env = {**_clean_env(), **extra_env}
    procs = [subprocess.Popen([str(venv / "bin" / "python"), "-c", _INVOKE, HANDLER, json.dumps(e.to_dict()), str(i)],
                              cwd=venv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, e in enumerate(events)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        outs.append({**json.loads(out.strip().splitlines()[-1]), "stderr": err})
    return outs


@pytest.mark.parametrize("channel", ["redis", "tcp-punch"])
def test_handler_runs_a_distributed_join_in_the_clean_venv(
    image_venv: Path, redis_url: str, tmp_path: Path, channel: str, rendezvous_server: Any
) -> None:
    duckdb = pytest.importorskip("duckdb")
    left, right = _write_inputs(tmp_path / "data")
    dest = str(tmp_path / "out")
    # broadcast_threshold_bytes=0: force the shuffle join, so the channel carries the data.
    spec = JobSpec.for_op("join", [left, right], dest, on="k", how="inner", world_size=3, channel=channel,
                          broadcast_threshold_bytes=0, timeout_s=120)
    extra = {"CYLON_RENDEZVOUS": f"127.0.0.1:{rendezvous_server.server.port}"} if channel == "tcp-punch" else {}
    outs = _run_job_through_handler(image_venv, redis_url, spec, extra)
    assert sorted(o["status"]["rank"] for o in outs) == [0, 1, 2]
    assert all(o["status"]["state"] == "ok" for o in outs), [o["status"] for o in outs]
    assert all(o["airflow_modules"] == [] for o in outs)
    assert all(o["package_file"].startswith(str(image_venv)) for o in outs)
    if channel == "tcp-punch":
        # Every rank used the punched links, none fell back to Redis.
        assert all("falling back" not in o["stderr"] for o in outs)
        assert rendezvous_server.server.stats.paired == 3
    manifest = storage.read_manifest(dest)
    assert manifest is not None and manifest["job_id"]
    got = storage.read_output(dest).select(["k", "a", "b"]).sort_by([("a", "ascending"), ("b", "ascending")])
    want = duckdb.sql(f"select k, l.a, r.b from read_parquet('{left}/*.parquet') l "
                      f"join read_parquet('{right}/*.parquet') r using (k) order by a, b").arrow()
    if isinstance(want, pa.RecordBatchReader):
        want = want.read_all()
    assert got.num_rows == want.num_rows > 0
    assert got.to_pylist() == want.to_pylist()
