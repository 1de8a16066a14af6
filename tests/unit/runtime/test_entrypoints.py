"""Handler context, executor handle, CLI table, Redis URL handling (no servers needed)."""
from __future__ import annotations

import time

import pytest
import redis

from airflow_provider_cylon import cli
from airflow_provider_cylon.client.executors.base import JobHandle
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.runtime.bootstrap import connect
from airflow_provider_cylon.runtime.protocol import JobKeys
from airflow_provider_cylon.runtime.errors import ExecutorError, InvocationEventError
from airflow_provider_cylon.runtime.event import build_events
from airflow_provider_cylon.runtime.handler import LocalContext, lambda_handler


def test_local_context_counts_down() -> None:
    ctx = LocalContext(10)
    assert 9000 < ctx.get_remaining_time_in_millis() <= 10000
    assert LocalContext(deadline_epoch=time.time() - 1).get_remaining_time_in_millis() == 0
    assert LocalContext().get_remaining_time_in_millis() > 10**9


def test_handler_rejects_bad_events_naming_the_field() -> None:
    with pytest.raises(InvocationEventError) as info:
        lambda_handler({"protocol": 1, "job_id": "j", "redis_url": "redis://h:1/0"}, LocalContext(5))
    assert info.value.field == "invocation_id"


def test_job_handle_round_trip() -> None:
    handle = JobHandle("j1", 2, "redis://h:1/0", build_events("j1", "redis://h:1/0", 2, invocation_prefix="p"),
                       extra={"pids": [1, 2]})
    assert JobHandle.from_dict(handle.to_dict()) == handle


def test_local_executor_validates_limits() -> None:
    with pytest.raises(ExecutorError, match="function_timeout_s"):
        LocalExecutor(function_timeout_s=0)
    with pytest.raises(ExecutorError, match="memory_mb"):
        LocalExecutor(memory_mb=1)


def test_cli_commands_are_one_table() -> None:
    assert {"worker", "run"} <= set(cli.COMMANDS)
    parser = cli.build_parser()
    args = parser.parse_args(["run", "spec.json", "-n", "3"])
    assert args.world_size == 3 and args._run is cli.COMMANDS["run"].run


def test_redis_urls_tls_and_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    tls = connect("rediss://cache.example.com:6380/0")
    assert tls.connection_pool.connection_class is redis.SSLConnection
    monkeypatch.setenv("CYLON_REDIS_PASSWORD", "from-env")
    client = connect("redis://user@cache.example.com:6379/2")
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["password"] == "from-env" and kwargs["username"] == "user" and kwargs["db"] == 2


def test_key_schema_matches_the_contract() -> None:
    k = JobKeys("j")
    assert [k.spec, k.rank, k.claim("i"), k.gather("endpoints"), k.barrier("b"), k.status, k.done, k.abort,
            k.manifest, k.wake_abort(3)] == [
        "cylon:j:spec", "cylon:j:rank", "cylon:j:claim:i", "cylon:j:endpoints", "cylon:j:barrier:b",
        "cylon:j:status", "cylon:j:done", "cylon:j:abort", "cylon:j:manifest", "cylon:j:wake:abort:3"]


def test_unreachable_redis_is_a_coordination_error_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cylon.runtime.errors import CoordinationError

    monkeypatch.setenv("CYLON_REDIS_PASSWORD", "hunter2")
    with pytest.raises(CoordinationError, match="127.0.0.1:1") as info:
        lambda_handler({"protocol": 1, "job_id": "j", "redis_url": "redis://127.0.0.1:1/0", "invocation_id": "i"},
                       LocalContext(5))
    assert "hunter2" not in str(info.value)
