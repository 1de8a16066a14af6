"""A warm worker host: one process that has imported the worker once and forks a worker per request.

``python -m airflow_provider_cylon.runtime.warm_host SOCKET_PATH IDLE_S``

A fresh local worker spends 0.5-0.6 s of CPU importing pyarrow, pyarrow.compute,
redis-py and the kernel before it reads a byte (``python -X importtime``), and a
job's workers start together on a machine with few cores. A Lambda execution
environment that ran before keeps its imports (a warm start); this host is that
for local workers. The client (``client/executors/warm_workers.py``) starts it on
first use and asks it over a Unix socket to fork a worker: the child sets up what
a fresh process would have (its own session, stdin from /dev/null, stdout and
stderr into its log file, the job's environment, the memory limit) and runs the
same ``worker_process.main`` as ``python -m`` does, with the same exit codes.

Why fork after importing pyarrow is safe: Arrow registers at-fork handlers for its
thread pools and jemalloc for its background thread, and the host itself never
computes, connects or starts a thread of its own. Code that reads the environment
does so at run time in the child (``CYLON_NUM_THREADS``); what is read at import
(the allocator's ``MIMALLOC_*`` options) is part of the host's identity, so the
client keeps one host per interpreter, source tree and such environment.

The host stops after ``IDLE_S`` seconds without a live child or a request and
removes its socket. Protocol: one JSON request line per connection, one JSON
reply line (no pickle):

* ``{"op": "ping"}`` -> ``{"ok": true, "pid": N}``
* ``{"op": "spawn", "argv": [...], "env": {...}, "log": PATH, "memory_mb": M|null}`` -> ``{"pid": N}``
* ``{"op": "poll", "pids": [...]}`` -> ``{"codes": {"N": code|null}}`` (null: still running;
  a pid the host never forked or forgot reads as ``-9999``)
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from typing import Any

#: Exit codes of reaped children kept for polls (a job's waiter reads them within seconds).
MAX_REMEMBERED_EXITS = 4096
#: Returned for a pid this host does not know (never forked, or forgotten).
UNKNOWN_PID = -9999


def _warm_imports() -> None:
    """Import everything a worker imports, as a fresh worker process would (extras hidden first)."""
    from airflow_provider_cylon.runtime import worker_process

    if not any(name in sys.modules for name in worker_process.WithoutOptionalExtras.blocked):
        sys.meta_path.insert(0, worker_process.WithoutOptionalExtras())
    import airflow_provider_cylon.runtime.handler  # noqa: F401
    import airflow_provider_cylon.runtime.ops  # noqa: F401
    import airflow_provider_cylon.runtime.storage  # noqa: F401
    import airflow_provider_cylon.runtime.worker  # noqa: F401


def _run_child(request: dict[str, Any]) -> None:
    """In the forked child: become a fresh worker process, run it, and leave (never returns)."""
    code = 70
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        if request.get("memory_mb"):
            import resource

            limit = int(request["memory_mb"]) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        argv = [str(a) for a in request["argv"]]
        sys.argv = ["airflow_provider_cylon.runtime.worker_process", *argv]
        from airflow_provider_cylon.runtime import worker_process

        code = worker_process.main(argv)
        worker_process.exit_now(code)
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must never return into the host's loop
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class WarmHost:
    """The host's state: the listening socket, the children and their exit codes."""

    def __init__(self, path: str, idle_s: float) -> None:
        self.path, self.idle_s = path, idle_s
        self.running: set[int] = set()
        self.exits: dict[int, int] = {}
        self.last_request = time.monotonic()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)  # fails when another host already serves this path: that one wins
        os.chmod(path, 0o600)
        self.sock.listen(256)

    def reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.running.clear()
                return
            if pid == 0:
                return
            self.running.discard(pid)
            self.exits[pid] = os.waitstatus_to_exitcode(status)
            while len(self.exits) > MAX_REMEMBERED_EXITS:
                self.exits.pop(next(iter(self.exits)))

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "poll":
            self.reap()
            return {"codes": {str(p): (None if p in self.running else self.exits.get(p, UNKNOWN_PID))
                              for p in (int(x) for x in request.get("pids", []))}}
        if op == "spawn":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self.sock.close()
                _run_child(request)
            self.running.add(pid)
            return {"pid": pid}
        return {"error": f"unknown op {op!r}"}

    def serve_one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(1 << 20)
                if not chunk:
                    return
                data += chunk
            try:
                reply = self.answer(json.loads(data))
            except (ValueError, KeyError, TypeError, OSError) as err:
                reply = {"error": f"{type(err).__name__}: {err}"}
            conn.sendall(json.dumps(reply).encode() + b"\n")
        self.last_request = time.monotonic()

    def serve(self) -> None:
        try:
            while True:
                readable, _, _ = select.select([self.sock], [], [], 0.2)
                self.reap()
                if readable:
                    conn, _ = self.sock.accept()
                    try:
                        self.serve_one(conn)
                    except OSError:
                        pass  # the client went away mid-request; it retries or starts cold
                elif not self.running and time.monotonic() - self.last_request > self.idle_s:
                    return
        finally:
            self.close()

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m airflow_provider_cylon.runtime.warm_host SOCKET_PATH IDLE_S", file=sys.stderr)
        return 2
    _warm_imports()
    try:
        host = WarmHost(args[0], float(args[1]))
    except OSError as err:  # another host took the path first
        print(f"warm host not started: {err}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"warm host pid {os.getpid()} serving {args[0]} (idle stop {args[1]}s)", flush=True)
    host.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
