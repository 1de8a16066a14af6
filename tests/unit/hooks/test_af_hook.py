"""CylonHook and its connection: parsing, defaults, Redis clients, test_connection, embedded Valkey."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_cylon.exceptions import CylonConnectionError
from airflow_provider_cylon.hooks import CylonHook
from airflow_provider_cylon.hooks.connection_config import CylonConnectionConfig


def test_hook_identity() -> None:
    assert (CylonHook.conn_name_attr, CylonHook.default_conn_name, CylonHook.conn_type, CylonHook.hook_name) == (
        "cylon_conn_id", "cylon_default", "cylon", "Cylon")


def test_no_connection_means_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CYLON_DEFAULT", raising=False)
    config = CylonHook().config
    assert config == CylonConnectionConfig()
    assert (config.executor, config.embedded_redis, config.conn_id) == ("local", True, None)


def test_missing_named_connection_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CylonConnectionError, match="'cylon_prod' is not defined"):
        _ = CylonHook(cylon_conn_id="cylon_prod").config


def test_env_connection_json_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_PROD", json.dumps({
        "conn_type": "cylon", "login": "AKIDEXAMPLE", "password": "s3cr3t-key",
        "extra": {"executor": "lambda", "function_name": "arn:aws:lambda:eu-west-1:123456789012:function:cw",
                  "redis_url": "rediss://:hunter22@cache.example:6380/0", "parallelism": "8",
                  "extra__cylon__channel": "s3", "s3_endpoint_url": "http://minio:9000", "storage_region": "eu-west-1"},
    }))
    config = CylonHook(cylon_conn_id="cylon_prod").config
    assert config.executor == "lambda"
    assert config.lambda_region == "eu-west-1"
    assert config.parallelism == 8 and config.channel == "s3"
    assert config.redis_url_redacted == "rediss://:***@cache.example:6380/0"
    assert config.storage_options() == {"endpoint_override": "minio:9000", "scheme": "http", "region": "eu-west-1"}
    assert config.boto3_session_kwargs()["aws_access_key_id"] == "AKIDEXAMPLE"
    assert "hunter22" not in repr(config) and "s3cr3t-key" not in repr(config)


def test_env_connection_uri_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_URI", "cylon://?executor=local&redis_url=redis%3A%2F%2F127.0.0.1%3A6379%2F1")
    config = CylonHook(cylon_conn_id="cylon_uri").config
    assert config.redis_url == "redis://127.0.0.1:6379/1"


@pytest.mark.parametrize(("extra", "message"), [
    ({"executor": "fargate"}, "executor must be one of"),
    ({"executor": "lambda", "redis_url": "redis://r:6379"}, "needs function_name"),
    ({"executor": "lambda", "function_name": "f"}, "needs a redis_url"),
    ({"redis_url": "http://r:6379"}, "scheme must be one of"),
    ({"channel": "carrier-pigeon"}, "channel must be one of"),
    ({"parallelism": "many"}, "parallelism must be an integer, found 'many'"),
])
def test_invalid_connections_name_the_field(monkeypatch: pytest.MonkeyPatch, extra: dict, message: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_BAD", json.dumps({"conn_type": "cylon", "extra": extra}))
    with pytest.raises(CylonConnectionError, match=message):
        _ = CylonHook(cylon_conn_id="cylon_bad").config


def test_sync_and_async_clients_reach_the_configured_redis(cylon_conn: str) -> None:
    import asyncio

    hook = CylonHook()
    assert hook.get_redis_url() == cylon_conn
    assert hook.get_conn().ping() is True

    async def ping() -> bool:
        client = await CylonHook().a_get_conn()
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    assert asyncio.run(ping()) is True


def test_test_connection_pings_redis(cylon_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = CylonHook().test_connection()
    assert ok, message
    assert "answered PING" in message
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_DEAD", json.dumps(
        {"conn_type": "cylon", "extra": {"redis_url": "redis://127.0.0.1:1/0"}}))
    ok, message = CylonHook(cylon_conn_id="cylon_dead").test_connection()
    assert not ok and "ConnectionError" in message


def test_async_lookup_never_starts_an_embedded_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import asyncio

    monkeypatch.delenv("AIRFLOW_CONN_CYLON_DEFAULT", raising=False)
    monkeypatch.setenv("CYLON_STATE_DIR", str(tmp_path / "empty"))
    with pytest.raises(CylonConnectionError, match="embedded Valkey is not running"):
        asyncio.run(CylonHook().a_get_redis_url())
