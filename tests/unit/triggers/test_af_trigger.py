"""CylonBarrierTrigger: exact serialization, and run() against a real Valkey."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest

from airflow_provider_cylon.runtime.protocol import job_key
from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger

CLASSPATH = "airflow_provider_cylon.triggers.barrier.CylonBarrierTrigger"


def test_serialize_is_exact_and_round_trips() -> None:
    trigger = CylonBarrierTrigger(job_id="j1", cylon_conn_id="c", world_size=4, poll_interval=0.5,
                                  deadline=1234.5, started_at=1000.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {"job_id": "j1", "cylon_conn_id": "c", "world_size": 4, "barrier": None, "expected": None,
                      "poll_interval": 0.5, "deadline": 1234.5, "started_at": 1000.0, "hold_until": None,
                      "require_spec": True}
    assert CylonBarrierTrigger(**kwargs).serialize() == (classpath, kwargs)
    json.dumps(kwargs)  # crosses the triggerer boundary as JSON


@pytest.mark.parametrize("kwargs", [{"job_id": ""}, {"job_id": "j", "barrier": "b"},
                                    {"job_id": "j", "poll_interval": 0}])
def test_invalid_kwargs_are_refused_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CylonBarrierTrigger(**kwargs)


async def _first_event(trigger: CylonBarrierTrigger, timeout: float = 20.0) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("trigger returned without an event")

    return await asyncio.wait_for(first(), timeout)


def _spec(client: Any, job_id: str, world_size: int) -> None:
    client.set(job_key(job_id, "spec"), json.dumps({"version": 1, "op": "sort", "world_size": world_size}), ex=600)


def _report(client: Any, job_id: str, rank: int, **status: Any) -> None:
    client.hset(job_key(job_id, "status"), str(rank), json.dumps({"rank": rank, **status}))
    client.sadd(job_key(job_id, "done"), str(rank))


async def test_success_carries_manifest_and_every_worker(cylon_conn: str, redis_client: Any, job_id: str,
                                                         caplog: pytest.LogCaptureFixture,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _spec(redis_client, job_id, 2)
    trigger = CylonBarrierTrigger(job_id=job_id, poll_interval=0.05, deadline=time.time() + 30)

    async def workers() -> None:
        await asyncio.sleep(0.3)
        _report(redis_client, job_id, 0, state="ok", rows_out=3)
        await asyncio.sleep(0.3)
        _report(redis_client, job_id, 1, state="ok", rows_out=4)
        redis_client.set(job_key(job_id, "manifest"), json.dumps({"files": ["part-00000.parquet"], "rows": 7}))

    caplog.set_level(logging.INFO)
    event, _ = await asyncio.gather(_first_event(trigger), workers())
    assert event["status"] == "success" and event["job_id"] == job_id
    assert event["manifest"] == {"files": ["part-00000.parquet"], "rows": 7}
    assert [w["rank"] for w in event["workers"]] == [0, 1]
    assert (event["done"], event["world_size"]) == (2, 2)
    # Airflow routes logs through structlog (stdout) or stdlib logging, depending on its setup.
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "progress: 0/2 workers done" in logged and "progress: 1/2 workers done" in logged
    assert f"job_id={job_id} progress" not in logged  # short lines: the job id was logged once, at submit


async def test_abort_yields_the_failing_ranks_error(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    _spec(redis_client, job_id, 3)
    _report(redis_client, job_id, 0, state="ok")
    _report(redis_client, job_id, 2, state="error", error="KeyError: 'customer_id'",
            traceback="Traceback (most recent call last):\n  ...\nKeyError: 'customer_id'")
    redis_client.set(job_key(job_id, "abort"), json.dumps({"rank": 2, "error": "KeyError: 'customer_id'"}))
    event = await _first_event(CylonBarrierTrigger(job_id=job_id, poll_interval=0.05))
    assert event["status"] == "error"
    assert event["rank"] == 2
    assert event["error"] == "KeyError: 'customer_id'"
    assert "Traceback" in event["traceback"]


async def test_timeout_when_workers_never_finish(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    _spec(redis_client, job_id, 2)
    _report(redis_client, job_id, 0, state="ok")
    started = time.monotonic()
    event = await _first_event(CylonBarrierTrigger(job_id=job_id, poll_interval=0.05, deadline=time.time() + 0.5))
    assert event["status"] == "timeout"
    assert (event["done"], event["world_size"]) == (1, 2)
    assert 0.4 <= time.monotonic() - started < 5


async def test_named_barrier_with_expected_count(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    _spec(redis_client, job_id, 3)
    key = job_key(job_id, "barrier:written")
    redis_client.sadd(key, "0", "1")
    trigger = CylonBarrierTrigger(job_id=job_id, barrier="written", expected=3, poll_interval=0.05,
                                  deadline=time.time() + 20)

    async def arrive() -> None:
        await asyncio.sleep(0.3)
        redis_client.sadd(key, "2")

    event, _ = await asyncio.gather(_first_event(trigger), arrive())
    assert (event["status"], event["barrier"], event["count"], event["expected"]) == ("success", "written", 3, 3)


async def test_unreachable_redis_gives_an_error_event(monkeypatch: pytest.MonkeyPatch, job_id: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_DEAD", json.dumps(
        {"conn_type": "cylon", "extra": {"redis_url": "redis://127.0.0.1:1/0"}}))
    monkeypatch.setattr("airflow_provider_cylon.client.job_client.MAX_REDIS_ERRORS", 2)
    event = await _first_event(CylonBarrierTrigger(job_id=job_id, cylon_conn_id="cylon_dead", poll_interval=0.01))
    # the URL, where it came from and what to check; never redis-py's bare text alone
    assert event["status"] == "error" and "cannot reach Redis at redis://127.0.0.1:1/0" in event["error"]
    assert "connection 'cylon_dead', extra redis_url" in event["error"] and "host and port" in event["error"]


async def _on_kill_seen_by_a_worker(trigger: CylonBarrierTrigger, redis_url: str, job_id: str) -> dict[str, Any]:
    """Run on_kill while a "worker" (a real BLPOP on rank 0's abort wake list) waits; what it saw."""
    import threading

    import redis

    seen: dict[str, Any] = {}
    worker = redis.Redis.from_url(redis_url, decode_responses=True)

    def wait() -> None:
        seen["wake"] = worker.blpop([job_key(job_id, "wake:abort:0")], timeout=10)

    thread = threading.Thread(target=wait)
    thread.start()
    await asyncio.sleep(0.2)
    await trigger.on_kill()
    thread.join(15)
    worker.close()
    return seen


async def test_on_kill_aborts_the_job_then_deletes_its_keys(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    _spec(redis_client, job_id, 1)
    seen = await _on_kill_seen_by_a_worker(CylonBarrierTrigger(job_id=job_id), cylon_conn, job_id)
    assert seen["wake"] is not None  # the abort woke the waiting rank before the keys went
    assert redis_client.keys(f"cylon:{job_id}:*") == []


class _TI:
    """The task-instance fields a trigger carries in the triggerer."""

    def __init__(self, map_index: int = -1) -> None:
        self.dag_id, self.task_id, self.run_id, self.try_number, self.map_index = "d", "t", "r1", 1, map_index


def _answer_task_states(monkeypatch: pytest.MonkeyPatch, state: str | None, key: str = "t") -> list[dict[str, Any]]:
    """Answer the execution API's task-state lookup (the triggerer's comms) with ``state``; records the queries."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    asked: list[dict[str, Any]] = []

    def get_task_states(**query: Any) -> dict[str, Any]:
        asked.append(query)
        return {"r1": {key: state}}

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))
    return asked


async def test_on_kill_on_reassignment_leaves_the_job_running(cylon_conn: str, redis_client: Any, job_id: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """apache/airflow#73454: the task is still deferred, so this is a move to another triggerer."""
    asked = _answer_task_states(monkeypatch, "deferred")
    trigger = CylonBarrierTrigger(job_id=job_id, world_size=2)
    trigger.task_instance = _TI()
    await trigger.on_kill()
    assert redis_client.get(job_key(job_id, "abort")) is None
    assert asked == [{"dag_id": "d", "task_ids": ["t"], "run_ids": ["r1"], "map_index": None}]


@pytest.mark.parametrize("state", ["failed", "success", None, "up_for_retry"])  # marked, cleared (no state), ...
async def test_on_kill_when_the_task_left_deferred_cancels_the_job(cylon_conn: str, redis_client: Any, job_id: str,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   state: str | None) -> None:
    asked = _answer_task_states(monkeypatch, state, key="t_3")
    _spec(redis_client, job_id, 2)
    trigger = CylonBarrierTrigger(job_id=job_id, world_size=2)
    trigger.task_instance = _TI(map_index=3)
    seen = await _on_kill_seen_by_a_worker(trigger, cylon_conn, job_id)
    assert seen["wake"] is not None and redis_client.keys(f"cylon:{job_id}:*") == []
    assert asked[0]["map_index"] == 3


async def test_hold_until_delays_the_event(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    """The workaround for Airflow's defer/resume race: no event before hold_until."""
    _spec(redis_client, job_id, 1)
    _report(redis_client, job_id, 0, state="ok")
    redis_client.set(job_key(job_id, "manifest"), json.dumps({"rows": 1}))
    hold_until = time.time() + 0.8
    event = await _first_event(CylonBarrierTrigger(job_id=job_id, poll_interval=0.05, hold_until=hold_until))
    assert event["status"] == "success" and time.time() >= hold_until


async def test_long_poll_interval_is_bounded_and_woken_by_workers(cylon_conn: str, redis_client: Any,
                                                                   job_id: str) -> None:
    """A sensor-like 60 s interval: the BLPOP stays under the socket timeout and wakes on wake:final."""
    _spec(redis_client, job_id, 1)
    trigger = CylonBarrierTrigger(job_id=job_id, world_size=1, poll_interval=60.0)

    async def worker() -> None:
        await asyncio.sleep(0.5)
        _report(redis_client, job_id, 0, state="ok")
        redis_client.set(job_key(job_id, "manifest"), "{}")
        redis_client.rpush(job_key(job_id, "wake:final"), "1")  # what workers push on report/manifest

    started = time.monotonic()
    event, _ = await asyncio.gather(_first_event(trigger), worker())
    assert event["status"] == "success" and time.monotonic() - started < 5


async def test_on_kill_cleanup_survives_the_triggerers_second_cancel(cylon_conn: str, redis_client: Any,
                                                                      job_id: str) -> None:
    """Airflow 3.3's triggerer cancels a killed trigger's task again while on_kill runs (and swallows it):
    the cleanup, which waits for a live rank to go quiet first, must still end with no key left."""
    _spec(redis_client, job_id, 2)
    redis_client.zadd(job_key(job_id, "heartbeats"), {"0": time.time()})  # a rank still beating: a quiet wait
    kill = asyncio.ensure_future(CylonBarrierTrigger(job_id=job_id).on_kill())
    await asyncio.sleep(0.3)
    kill.cancel()  # as the triggerer's next loop does
    with pytest.raises(asyncio.CancelledError):
        await kill
    assert redis_client.get(job_key(job_id, "abort")) is not None  # aborted at once
    end = time.monotonic() + 20
    while redis_client.keys(f"cylon:{job_id}:*"):
        assert time.monotonic() < end, redis_client.keys(f"cylon:{job_id}:*")
        await asyncio.sleep(0.1)
