"""Invocation event: tiny, validated, and never carrying a secret."""
from __future__ import annotations

import json

import pytest

from airflow_provider_cylon.runtime.errors import InvocationEventError
from airflow_provider_cylon.runtime.event import (
    InvocationEvent,
    build_events,
    make_job_id,
    split_redis_password,
    validate_job_id,
)


def test_round_trip_and_size() -> None:
    events = build_events("job-1", "rediss://cache.example.com:6380/0", 64, invocation_prefix="abc")
    assert [e.invocation_id for e in events][:2] == ["abc-0", "abc-1"]
    for e in events:
        assert InvocationEvent.from_json(e.to_json()) == e
        assert len(e.to_json()) < 1024
    assert json.loads(events[0].to_json()) == {
        "protocol": 1, "job_id": "job-1", "redis_url": "rediss://cache.example.com:6380/0",
        "invocation_id": "abc-0", "redis_password_env": "CYLON_REDIS_PASSWORD"}


def test_password_in_url_is_refused_and_splittable() -> None:
    with pytest.raises(InvocationEventError) as info:
        InvocationEvent(job_id="j", redis_url="redis://user:s3cret@host:6379/0", invocation_id="i")
    assert "s3cret" not in str(info.value)
    assert info.value.field == "redis_url"
    url, password = split_redis_password("redis://user:s3cret@host:6379/0")
    assert (url, password) == ("redis://user@host:6379/0", "s3cret")
    assert split_redis_password("redis://host:1/0") == ("redis://host:1/0", None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"protocol": 2, "job_id": "j", "redis_url": "redis://h:1/0", "invocation_id": "i"}, "protocol"),
        ({"protocol": 1, "job_id": "a b", "redis_url": "redis://h:1/0", "invocation_id": "i"}, "job_id"),
        ({"protocol": 1, "job_id": "j", "redis_url": "http://h:1/0", "invocation_id": "i"}, "redis_url"),
        ({"protocol": 1, "job_id": "j", "redis_url": "redis://h:1/0"}, "invocation_id"),
        ({"protocol": 1, "job_id": "j", "redis_url": "redis://h:1/0", "invocation_id": "i", "spec": {}}, "spec"),
        ({"protocol": 1, "job_id": "j", "redis_url": "redis://h:1/0", "invocation_id": "i",
          "redis_password_env": "not a var"}, "redis_password_env"),
    ],
)
def test_bad_events_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvocationEventError) as info:
        InvocationEvent.from_dict(data)
    assert info.value.field == field


def test_make_job_id_is_safe_and_distinct() -> None:
    a = make_job_id("etl", "join_orders", "manual__2024-01-01T00:00:00+00:00", "1")
    b = make_job_id("etl", "join_orders", "manual__2024-01-01T00:00:00+00:00", "2")
    assert a != b
    assert validate_job_id(a) == a
    assert make_job_id("x" * 500).__len__() <= 120
