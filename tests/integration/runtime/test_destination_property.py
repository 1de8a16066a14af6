"""Property: any sequence of runs against one destination (success, failure in any phase, a commit
interrupted or killed midway, a worker killed) leaves either the previous complete output or the new
complete output, plus the files we never wrote, byte for byte.

Real Valkey, real local workers, the fault points of runtime/worker.py (``CYLON_TEST_FAIL``) and
runtime/storage.py (``CYLON_TEST_COMMIT_FAULT``). After each run the waiter's terminal path
(``JobClient.cleanup``) has run, as run_job and the operators run it.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_cylon.client import JobClient
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.spec import JobSpec
from airflow_provider_cylon.runtime.storage import COMMIT_FAULT_ENV
from airflow_provider_cylon.runtime.worker import FAIL_ENV, STALL_ENV

pytestmark = pytest.mark.integration("redis")

#: Another tool's files at the destination: never ours to touch (if_exists="overwrite_all" keeps them).
FOREIGN = {"part-00000-0f0f0f0f.snappy.parquet": b"PAR1 not really parquet, and not ours",
           "notes/README.txt": b"written by someone else\n"}

RUNS = st.one_of(
    st.tuples(st.just("ok")),
    st.tuples(st.just("fail"), st.sampled_from([f"{rank}:{phase}" for rank in (0, 1)
                                                 for phase in ("read", "compute", "write")] + ["0:commit"])),
    st.tuples(st.just("commit_fault"), st.sampled_from(["moved:0", "moved:1", "moved:2", "manifest"]),
              st.booleans()),  # True: rank 0 is SIGKILLed there (a Lambda killed mid-commit)
    st.tuples(st.just("kill"), st.sampled_from([0, 1])),  # a worker SIGKILLed while its peer waits in the shuffle
)


def _input(root: Path, seed: int) -> tuple[str, pa.Table]:
    """A distinct input per run, and the output a successful sort of it publishes."""
    import random

    rnd = random.Random(seed)
    table = pa.table({"k": [rnd.randrange(1000) for _ in range(60)], "v": [seed] * 60})
    path = root / f"in-{seed}.parquet"
    pq.write_table(table, path)
    return str(path), table.sort_by([("k", "ascending"), ("v", "ascending")])


def _files(dest: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def _run(redis_url: str, spec: JobSpec, env: dict[str, str], kill_rank: int | None) -> str:
    job_id = f"prop-{uuid.uuid4().hex[:10]}"
    jobs = JobClient(redis_url, LocalExecutor(env=env))
    try:
        handle = jobs.submit(spec, job_id)
        if kill_rank is not None:
            deadline = time.monotonic() + 60
            victim = None
            while victim is None and time.monotonic() < deadline:
                claims = [jobs.redis.get(f"cylon:{job_id}:claim:{e.invocation_id}") for e in handle.events]
                victim = next((pid for pid, c in zip(handle.extra["pids"], claims) if c == str(kill_rank)), None)
                time.sleep(0.05)
            assert victim is not None
            while jobs.redis.scard(f"cylon:{job_id}:barrier:read") < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(victim, signal.SIGKILL)
        jobs.wait(handle, 120)
    finally:
        jobs.close()  # kills whatever still runs
        JobClient(redis_url).cleanup(job_id)  # the waiter's terminal path: keys, logs, an interrupted commit
    return job_id


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(runs=st.lists(RUNS, min_size=1, max_size=3))
def test_a_destination_holds_one_complete_output_and_the_foreign_files(redis_url: str, tmp_path_factory: Any,
                                                                       runs: list[tuple[Any, ...]]) -> None:
    root = tmp_path_factory.mktemp("prop")
    dest = root / "out"
    for name, body in FOREIGN.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(body)
    current: pa.Table | None = None  # the complete output the destination holds
    for seed, run in enumerate(runs):
        path, expected = _input(root, seed)
        spec = JobSpec.from_dict({**JobSpec.for_op("sort", [path], str(dest), by=["k", "v"], world_size=2,
                                                   timeout_s=60, heartbeat_timeout_s=5).to_dict()})
        spec = JobSpec.from_dict({**spec.to_dict(), "output": {**spec.to_dict()["output"],
                                                               "if_exists": "overwrite_all"}})
        env: dict[str, str] = {}
        kill_rank = None
        if run[0] == "fail":
            env[FAIL_ENV] = run[1]
        elif run[0] == "commit_fault":
            env[COMMIT_FAULT_ENV] = run[1] + (":kill" if run[2] else "")
        elif run[0] == "kill":
            env[STALL_ENV] = f"{1 - run[1]}:60"  # the survivor waits in the shuffle while the victim dies
            kill_rank = run[1]
        _run(redis_url, spec, env, kill_rank)

        files = _files(dest)
        for name, body in FOREIGN.items():  # never touched, byte for byte
            assert files.pop(name) == body, (run, name)
        manifest = storage.read_manifest(str(dest))
        if manifest is None:
            assert current is None and files == {}, (run, sorted(files))
            continue
        listed = {f["path"] for f in manifest["files"]}
        # exactly the manifest's files and the manifest: no orphan part, no staging left behind
        assert set(files) == listed | {"_SUCCESS"}, (run, sorted(files), sorted(listed))
        output = storage.read_output(str(dest))
        if run[0] == "ok":
            assert output.equals(expected), run
        else:
            assert output.equals(expected) or (current is not None and output.equals(current)), run
        current = output


@pytest.mark.parametrize(("point", "survives"), [("moved:1", "previous"), ("manifest", "new")])
def test_a_commit_killed_midway_is_finished_by_its_waiter(redis_url: str, tmp_path: Path, point: str,
                                                          survives: str) -> None:
    """The fault really happens (orphans are there before the cleanup), and the journal undoes it:
    back before the manifest, forward after it."""
    dest = tmp_path / "out"
    first_path, first = _input(tmp_path, 1)
    second_path, second = _input(tmp_path, 2)
    spec = JobSpec.for_op("sort", [first_path], str(dest), by=["k", "v"], world_size=2, timeout_s=60)
    _run(redis_url, spec, {}, None)
    job_id = f"prop-{uuid.uuid4().hex[:10]}"
    jobs = JobClient(redis_url, LocalExecutor(env={COMMIT_FAULT_ENV: f"{point}:kill"}))
    try:
        jobs.wait(jobs.submit(spec.with_(inputs=JobSpec.for_op("sort", [second_path], str(dest), by=["k"]).inputs),
                              job_id), 120)
        before = set(_files(dest))
        assert before - {"_SUCCESS"} != {f["path"] for f in storage.read_manifest(str(dest))["files"]}  # orphans
        assert (dest / "_staging" / job_id / storage.COMMIT_JOURNAL).exists()
    finally:
        jobs.close()
        jobs.cleanup(job_id)
        jobs.close()
    manifest = storage.read_manifest(str(dest))
    assert set(_files(dest)) == {f["path"] for f in manifest["files"]} | {"_SUCCESS"}
    assert storage.read_output(str(dest)).equals(first if survives == "previous" else second)
