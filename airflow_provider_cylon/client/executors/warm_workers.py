"""Warm local workers: run by a host that imported the worker once (``runtime/warm_host.py``), on
resident processes that keep their heap between jobs.

The local executor starts each worker through :class:`WarmWorkers` unless
``CYLON_WARM_WORKERS=0`` (then every worker is a fresh ``python -m`` process, a
cold start like a new Lambda execution environment's). The host is found by a
Unix socket whose name is a fingerprint of what the host has imported: the
interpreter, the package's runtime and kernel files (path, size, mtime) and the
environment read at import (allocator and Arrow options). An edited source tree,
another virtualenv or other allocator options get a host of their own; an old
host stops by itself once idle (``CYLON_WARM_IDLE_S``, default 300 s).

The socket lives in ``CYLON_WARM_DIR`` (default ``$TMPDIR/cylonwarm-$UID``, mode
0700): only this user can ask the host to fork.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_cylon.client.processes import process_alive
from airflow_provider_cylon.runtime.errors import ExecutorError

WARM_ENV = "CYLON_WARM_WORKERS"
DIR_ENV = "CYLON_WARM_DIR"
IDLE_ENV = "CYLON_WARM_IDLE_S"
DEFAULT_IDLE_S = 300.0
HOST_MODULE = "airflow_provider_cylon.runtime.warm_host"
#: Environment read when the host imports pyarrow and the kernel (so part of its identity).
IMPORT_ENV_PREFIXES = ("MIMALLOC_", "ARROW_", "JE_", "PYTHON", "LD_")
#: How long a new host may take to import and answer.
START_TIMEOUT_S = 60.0
_PACKAGE = Path(__file__).resolve().parents[2]


def warm_enabled(env: dict[str, str] | None = None) -> bool:
    """Whether local workers are forked warm (``CYLON_WARM_WORKERS``, default on)."""
    value = (env if env is not None else os.environ).get(WARM_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def warm_dir(env: dict[str, str] | None = None) -> Path:
    """The directory of the hosts' sockets and logs (created 0700)."""
    configured = (env if env is not None else os.environ).get(DIR_ENV)
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"cylonwarm-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def host_fingerprint(python: str, env: dict[str, str]) -> str:
    """What a host has imported: interpreter, package files, import-time environment."""
    digest = hashlib.sha256(os.path.realpath(python).encode())
    digest.update(str(_PACKAGE).encode())
    for sub in ("runtime", "kernel"):
        for path in sorted((_PACKAGE / sub).rglob("*")):
            if path.suffix in (".py", ".so") and path.is_file():
                st = path.stat()
                digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    for name in sorted(env):
        if name.startswith(IMPORT_ENV_PREFIXES):
            digest.update(f"{name}={env[name]}".encode())
    return digest.hexdigest()[:20]


def _request(path: str, payload: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout_s)
        conn.connect(path)
        conn.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"warm host {path} closed the connection")
            data += chunk
    reply = json.loads(data)
    if "error" in reply:
        raise ExecutorError(f"warm host {path}: {reply['error']}")
    return reply


class WarmProcess:
    """A worker run by the warm host, with the slice of ``subprocess.Popen`` the local executor uses.

    ``pid`` is the process running it (a resident or a one-shot fork, a session leader either
    way: the executor kills it by its process group); ``run`` is what the host knows it by.
    """

    def __init__(self, host: WarmWorkers, pid: int, run: str) -> None:
        self.host, self.pid, self.run = host, pid, run
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.host.poll({self.run: self.pid}).get(self.run)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        # Polls back off from 1 ms to 20 ms: a run that just reported ends within a few ms, and
        # a flat 20 ms sleep was up to 24 ms of a 0.3 s job's time (TPC-H Q1 at W = 2).
        end = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while self.poll() is None:
            if end is not None and time.monotonic() >= end:
                raise subprocess.TimeoutExpired(f"warm worker {self.pid}", timeout or 0)
            time.sleep(pause)
            pause = min(0.02, pause * 2)
        return self.returncode  # type: ignore[return-value]


class WarmWorkers:
    """Client of the warm host for one interpreter and worker environment (started on first use)."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        self.python, self.env = python, env
        self.dir = warm_dir(env)
        self.path = str(self.dir / f"host-{host_fingerprint(python, env)}.sock")

    def spawn(self, argv: list[str], env: dict[str, str], log_path: str, memory_mb: int | None) -> WarmProcess:
        """Run one worker (``worker_process.main(argv)``) on a resident or a one-shot fork."""
        self._ensure_host()
        reply = _request(self.path, {"op": "spawn", "argv": argv, "env": env, "log": log_path,
                                     "memory_mb": memory_mb})
        return WarmProcess(self, int(reply["pid"]), str(reply["run"]))

    def poll(self, runs: dict[str, int]) -> dict[str, int | None]:
        """Exit codes of runs (None: running), given as run -> pid. A run the host does not know,
        or a host gone, reads as killed: the executor then reports the worker as dead, never as
        running forever."""
        try:
            codes = _request(self.path, {"op": "poll", "runs": list(runs)})["codes"]
        except (OSError, ConnectionError, ValueError):
            # no host: running while the process lives (a resident leaves once its run ends and
            # finds the host gone), else lost (its exit code went with the host)
            return {r: None if process_alive(p) else -9 for r, p in runs.items()}
        return {str(r): (None if c is None else int(c)) for r, c in codes.items()}

    def residents(self) -> dict[str, list[int]]:
        """The host's resident workers: ``{"idle": [pid, ...], "busy": [pid, ...]}`` (empty without a host)."""
        try:
            reply = _request(self.path, {"op": "ping"})
        except (OSError, ConnectionError, ValueError, ExecutorError):
            return {"idle": [], "busy": []}
        return {"idle": [int(p) for p in reply["idle"]], "busy": [int(p) for p in reply["busy"]]}

    def _ensure_host(self) -> None:
        if self._answers():
            return
        with open(self.dir / "start.lock", "w") as lock:  # one starter at a time per user
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._answers():
                return
            try:
                os.unlink(self.path)  # a stale socket of a host that was killed
            except FileNotFoundError:
                pass
            idle = self.env.get(IDLE_ENV) or os.environ.get(IDLE_ENV) or str(DEFAULT_IDLE_S)
            with open(self.path[:-5] + ".log", "ab") as sink:
                proc = subprocess.Popen([self.python, "-m", HOST_MODULE, self.path, idle], env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            end = time.monotonic() + START_TIMEOUT_S
            while not self._answers():
                if proc.poll() is not None or time.monotonic() > end:
                    raise ExecutorError(f"the warm worker host did not start (exit {proc.poll()}); see "
                                        f"{self.path[:-5]}.log, or set {WARM_ENV}=0 for cold workers")
                time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            return bool(_request(self.path, {"op": "ping"}, timeout_s=5.0).get("ok"))
        except (OSError, ConnectionError, ValueError, ExecutorError):
            return False


def running_hosts(env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The warm hosts of this user that answer: ``{"socket", "pid", "idle", "busy"}`` each (the
    host's pid, and its resident workers' pids; ``cylon-airflow warm list``)."""
    hosts = []
    for sock in sorted(warm_dir(env).glob("host-*.sock")):
        try:
            reply = _request(str(sock), {"op": "ping"}, timeout_s=2.0)
        except (OSError, ConnectionError, ValueError, ExecutorError):
            continue
        hosts.append({"socket": str(sock), "pid": int(reply["pid"]), "idle": reply["idle"], "busy": reply["busy"]})
    return hosts


def kill_host(path: str) -> None:
    """Stop the host serving ``path`` (tests, ``cylon-airflow``); its running workers live on."""
    try:
        pid = int(_request(path, {"op": "ping"}, timeout_s=2.0)["pid"])
    except (OSError, ConnectionError, ValueError, ExecutorError, KeyError):
        return
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def host_env(worker_env: dict[str, str], password_env: str) -> dict[str, str]:
    """The host's own environment: the workers' without the job's variables and secrets (each
    child gets its job's whole environment; the long-lived host keeps no password)."""
    return {k: v for k, v in worker_env.items()
            if k != password_env and (not k.startswith("CYLON_") or k in (IDLE_ENV, DIR_ENV))}
