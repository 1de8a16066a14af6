"""Warm local workers: a real host process forks real workers (client/executors/warm_workers.py)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.client import JobClient
from airflow_provider_cylon.client.executors import warm_workers
from airflow_provider_cylon.runtime.warm_host import UNKNOWN_PID
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.client.executors.warm_workers import (
    WarmWorkers,
    host_env,
    host_fingerprint,
    kill_host,
    running_hosts,
    warm_enabled,
)
from airflow_provider_cylon.runtime.protocol import JobKeys
from airflow_provider_cylon.runtime.spec import JobSpec


@pytest.fixture()
def warm_env(tmp_path: Path) -> dict[str, str]:
    """A private host directory (the default one is shared by every test and run of this user)."""
    return {**os.environ, "CYLON_WARM_DIR": str(tmp_path / "warm"), "CYLON_WARM_IDLE_S": "1"}


def _wait_code(proc: warm_workers.WarmProcess, timeout: float = 60) -> int:
    return proc.wait(timeout)


def test_a_forked_worker_runs_the_worker_entry_with_its_exit_code_and_log(warm_env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    warm = WarmWorkers(sys.executable, warm_env)
    log = tmp_path / "w.log"
    proc = warm.spawn(["{not json"], {**warm_env, "CYLON_MARK": "x"}, str(log), None)
    assert _wait_code(proc) == 2  # worker_process.main: a malformed event
    assert "event" in log.read_text().lower()
    assert warm.poll({"r123456789": 1}) == {"r123456789": UNKNOWN_PID}  # never started by this host


def test_the_host_stops_when_idle_and_removes_its_socket(warm_env: dict[str, str], tmp_path: Path) -> None:
    warm = WarmWorkers(sys.executable, warm_env)
    proc = warm.spawn(["{not json"], warm_env, str(tmp_path / "w.log"), None)
    assert _wait_code(proc) == 2
    end = time.monotonic() + 30
    while os.path.exists(warm.path):  # idle 1 s with no live child: it leaves
        assert time.monotonic() < end, "the warm host did not stop when idle"
        time.sleep(0.2)
    proc = warm.spawn(["{not json"], warm_env, str(tmp_path / "w2.log"), None)  # started again on use
    assert _wait_code(proc) == 2
    (host,) = running_hosts(warm_env)
    assert host["socket"] == warm.path
    kill_host(warm.path)
    end = time.monotonic() + 30
    while running_hosts(warm_env):
        assert time.monotonic() < end, "kill_host did not stop the host"
        time.sleep(0.1)


def test_host_identity_follows_import_time_environment_and_keeps_no_secret() -> None:
    base = {"PATH": "/usr/bin"}
    assert host_fingerprint(sys.executable, base) == host_fingerprint(sys.executable, {**base, "CYLON_X": "1"})
    assert host_fingerprint(sys.executable, base) != host_fingerprint(sys.executable,
                                                                     {**base, "MIMALLOC_PURGE_DELAY": "0"})
    env = host_env({"PATH": "/usr/bin", "CYLON_REDIS_PASSWORD": "s3cret", "CYLON_TEST_STALL": "0:5",
                    "CYLON_WARM_IDLE_S": "9", "MY_PW": "s3cret"}, "MY_PW")
    assert env == {"PATH": "/usr/bin", "CYLON_WARM_IDLE_S": "9"}
    assert warm_enabled({}) and not warm_enabled({"CYLON_WARM_WORKERS": "0"})


@pytest.mark.parametrize("warm", ["1", "0"])
def test_jobs_run_the_same_warm_and_cold(redis_url: str, job_id: str, tmp_path: Path, warm_env: dict[str, str],
                                         warm: str) -> None:
    pq.write_table(pa.table({"k": [5, 3, None, 1, 4, 2]}), tmp_path / "in.parquet")
    spec = JobSpec.for_op("sort", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by=["k"], world_size=2,
                          timeout_s=60)
    env = {"CYLON_WARM_DIR": warm_env["CYLON_WARM_DIR"], "CYLON_WARM_IDLE_S": "5", "CYLON_WARM_WORKERS": warm}
    jobs = JobClient(redis_url, lambda: LocalExecutor(env=env))
    try:
        handle = jobs.submit(spec, job_id)
        snap = jobs.wait(handle, 60)
        assert snap.raise_for_failure()["rows"] == 6
        assert set(handle.extra["exit_codes"].values()) == {0}
        hosts = list(Path(warm_env["CYLON_WARM_DIR"]).glob("host-*.sock"))
        assert len(hosts) == (1 if warm == "1" else 0)
        assert json.loads(jobs.redis.get(JobKeys(job_id).handle))["extra"]["pids"] == handle.extra["pids"]
    finally:
        jobs.cleanup(job_id)
        jobs.close()
        for sock in Path(warm_env["CYLON_WARM_DIR"]).glob("host-*.sock"):
            kill_host(str(sock))


def test_cylon_airflow_warm_lists_and_stops_the_hosts(warm_env: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_provider_cylon.cli import main

    monkeypatch.setenv("CYLON_WARM_DIR", warm_env["CYLON_WARM_DIR"])
    warm = WarmWorkers(sys.executable, {**warm_env, "CYLON_WARM_IDLE_S": "60"})
    assert _wait_code(warm.spawn(["{not json"], warm_env, str(tmp_path / "w.log"), None)) == 2
    assert main(["warm", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["socket"] == warm.path
    assert main(["warm", "stop"]) == 0
    assert f"pid {listed['pid']}" in capsys.readouterr().out
    end = time.monotonic() + 30
    while running_hosts(warm_env):
        assert time.monotonic() < end, "cylon-airflow warm stop did not stop the host"
        time.sleep(0.1)


def _executors_host(env: dict[str, str]) -> WarmWorkers:
    """The host a LocalExecutor with ``env`` uses for a two-worker job (same fingerprint)."""
    from airflow_provider_cylon.client.executors.local import worker_defaults
    from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV

    full = {**os.environ, **env}
    for name, value in worker_defaults(2).items():
        full.setdefault(name, value)
    return WarmWorkers(sys.executable, host_env(full, DEFAULT_PASSWORD_ENV))


def _sort_spec(tmp_path: Path, name: str) -> JobSpec:
    pq.write_table(pa.table({"k": [5, 3, None, 1, 4, 2]}), tmp_path / f"{name}.parquet")
    return JobSpec.for_op("sort", [str(tmp_path / f"{name}.parquet")], str(tmp_path / f"out-{name}"), by=["k"],
                          world_size=2, timeout_s=60)


def test_residents_run_job_after_job_and_leave_after_a_failure(redis_url: str, tmp_path: Path,
                                                               warm_env: dict[str, str]) -> None:
    env = {"CYLON_WARM_DIR": warm_env["CYLON_WARM_DIR"], "CYLON_WARM_IDLE_S": "30"}
    jobs = JobClient(redis_url, lambda: LocalExecutor(env=env))
    warm = _executors_host(env)
    try:
        pids = []
        for n in range(2):
            handle = jobs.submit(_sort_spec(tmp_path, f"ok{n}"), f"resident-ok-{n}")
            assert jobs.wait(handle, 60).raise_for_failure()["rows"] == 6
            pids.append(sorted(handle.extra["pids"]))
            jobs.cleanup(handle.job_id)
        assert pids[0] == pids[1]  # the second job ran on the same processes, their heap kept
        assert sorted(warm.residents()["idle"]) == pids[0]
        bad = JobSpec.for_op("groupby", [str(tmp_path / "ok0.parquet")], str(tmp_path / "out-bad"), by=["nope"],
                             aggs={"k": ["sum"]}, world_size=2, timeout_s=60)
        handle = jobs.submit(bad, "resident-bad")
        assert not jobs.wait(handle, 60).is_successful
        jobs.cleanup(handle.job_id)
        assert set(handle.extra["exit_codes"].values()) == {1}
        deadline = time.monotonic() + 30  # a failed run's process is not reused: it leaves
        while any(warm_workers.process_alive(p) for p in handle.extra["pids"]):
            assert time.monotonic() < deadline, "a resident stayed after a failed run"
            time.sleep(0.1)
        assert not set(warm.residents()["idle"]) & set(handle.extra["pids"])
    finally:
        jobs.close()
        kill_host(warm.path)


def test_a_resident_killed_mid_run_reads_as_killed_and_is_replaced(redis_url: str, tmp_path: Path,
                                                                   warm_env: dict[str, str]) -> None:
    env = {"CYLON_WARM_DIR": warm_env["CYLON_WARM_DIR"], "CYLON_WARM_IDLE_S": "30"}
    warm = _executors_host(env)
    stalled = LocalExecutor(env={**env, "CYLON_TEST_STALL": "0:120"})
    jobs = JobClient(redis_url, stalled)
    try:
        handle = jobs.submit(_sort_spec(tmp_path, "stall"), "resident-stall")
        deadline = time.monotonic() + 60
        while len(warm.residents()["busy"]) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        procs = [w.proc for w in stalled._jobs[handle.job_id].workers]
        stalled.close()  # kills both runs by their process groups, as on a timeout or a cancel
        assert {p.poll() for p in procs} == {-9}
        assert warm.residents() == {"idle": [], "busy": []}
        jobs.cleanup(handle.job_id)
        ok = JobClient(redis_url, lambda: LocalExecutor(env=env))
        try:
            again = ok.submit(_sort_spec(tmp_path, "after"), "resident-after")
            assert ok.wait(again, 60).raise_for_failure()["rows"] == 6
            assert not set(again.extra["pids"]) & set(handle.extra["pids"])
            ok.cleanup(again.job_id)
        finally:
            ok.close()
    finally:
        jobs.close()
        kill_host(warm.path)
