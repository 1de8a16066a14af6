"""CylonBarrierSensor: poke, reschedule and deferrable modes against a real Valkey."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from airflow_provider_cylon.exceptions import CylonJobFailedError
from airflow_provider_cylon.runtime.protocol import job_key
from airflow_provider_cylon.sensors import CylonBarrierSensor
from airflow_provider_cylon.triggers.barrier import CylonBarrierTrigger


def test_poke_waits_for_the_manifest(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    sensor = CylonBarrierSensor(task_id="wait", job_id=job_id, mode="reschedule", poke_interval=5)
    assert sensor.poke({}) is False
    redis_client.set(job_key(job_id, "manifest"), json.dumps({"rows": 1}))
    assert sensor.poke({}) is True


def test_poke_fails_at_once_on_abort(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    redis_client.hset(job_key(job_id, "status"), "1", json.dumps({"rank": 1, "state": "error",
                                                                   "error": "rank 1 failed in read: no such file"}))
    redis_client.set(job_key(job_id, "abort"), json.dumps({"rank": 1, "error": "rank 1 failed in read: no such file"}))
    with pytest.raises(CylonJobFailedError, match="failed on rank 1: rank 1 failed in read: no such file"):
        CylonBarrierSensor(task_id="wait", job_id=job_id).poke({})


def test_named_barrier_needs_expected_arrivals(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    sensor = CylonBarrierSensor(task_id="wait", job_id=job_id, barrier="loaded", expected=2)
    redis_client.sadd(job_key(job_id, "barrier:loaded"), "0")
    assert sensor.poke({}) is False
    redis_client.sadd(job_key(job_id, "barrier:loaded"), "1")
    assert sensor.poke({}) is True
    with pytest.raises(ValueError, match="needs expected >= 1"):
        CylonBarrierSensor(task_id="bad", job_id=job_id, barrier="loaded")


def test_deferrable_mode_defers_with_the_sensor_timeout(cylon_conn: str, job_id: str) -> None:
    sensor = CylonBarrierSensor(task_id="wait", job_id=job_id, deferrable=True, timeout=300, poke_interval=2)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CylonBarrierTrigger)
    _, kwargs = trigger.serialize()
    assert (kwargs["job_id"], kwargs["poll_interval"]) == (job_id, 2.0)
    assert time.time() + 290 < kwargs["deadline"] <= time.time() + 300


def test_deferrable_mode_returns_at_once_when_already_done(cylon_conn: str, redis_client: Any, job_id: str) -> None:
    redis_client.set(job_key(job_id, "manifest"), "{}")
    assert CylonBarrierSensor(task_id="wait", job_id=job_id, deferrable=True).execute({}) is None


def test_execute_complete(cylon_conn: str, job_id: str) -> None:
    sensor = CylonBarrierSensor(task_id="wait", job_id=job_id, deferrable=True)
    sensor.execute_complete({}, {"status": "success", "job_id": job_id})
    with pytest.raises(AirflowSensorTimeout, match="1/2 workers done"):
        sensor.execute_complete({}, {"status": "timeout", "job_id": job_id, "done": 1, "world_size": 2,
                                     "waited_s": 9})
    with pytest.raises(CylonJobFailedError, match="rank 0"):
        sensor.execute_complete({}, {"status": "error", "job_id": job_id, "rank": 0, "error": "boom"})
