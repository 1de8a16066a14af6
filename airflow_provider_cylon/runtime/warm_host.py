"""A warm worker host: one process that has imported the worker once and serves worker runs.

``python -m airflow_provider_cylon.runtime.warm_host SOCKET_PATH IDLE_S``

A fresh local worker spends 0.5-0.6 s of CPU importing pyarrow, pyarrow.compute,
redis-py and the kernel before it reads a byte (``python -X importtime``), and a
job's workers start together on a machine with few cores. A Lambda execution
environment that ran before keeps its imports and its heap (a warm start); this
host is that for local workers. The client (``client/executors/warm_workers.py``)
starts it on first use and asks it over a Unix socket to run a worker:

* by default on a **resident** (``runtime/warm_resident.py``): a child forked once that
  runs one worker after another, each set up as a fresh process would be (stdout and
  stderr into its log file, the job's environment) and keeping its heap in between,
  because on this kind of machine faulting in fresh memory costs a first read about
  as much as decoding it. A resident is its own session leader, so the executor kills
  a run by its process group as it kills a cold worker (the host then forgets it);
* with a memory limit, on a **one-shot fork** (``RLIMIT_AS`` cannot be lifted again in
  the same process): own session, stdin from /dev/null, the log file, the job's
  environment and the limit, and ``worker_process.main`` with the same exit codes.

Why fork after importing pyarrow is safe: Arrow registers at-fork handlers for its
thread pools and jemalloc for its background thread, and the host itself never
computes, connects or starts a thread of its own. Code that reads the environment
does so at run time (``CYLON_NUM_THREADS``, read by the kernel on every call); what is
read at import (the allocator's ``MIMALLOC_*`` options) is part of the host's identity,
so the client keeps one host per interpreter, source tree and such environment.

The host stops after ``IDLE_S`` seconds without a running worker or a request (its
idle residents leave with it) and removes its socket. Protocol: one JSON request line
per connection, one JSON reply line (no pickle):

* ``{"op": "ping"}`` -> ``{"ok": true, "pid": N, "idle": [pid, ...], "busy": [pid, ...]}`` (the
  host, and its resident workers waiting for a run or running one)
* ``{"op": "spawn", "argv": [...], "env": {...}, "log": PATH, "memory_mb": M|null}``
  -> ``{"pid": N, "run": "rK"}`` (the process running it, and the run's id)
* ``{"op": "poll", "runs": [...]}`` -> ``{"codes": {"rK": code|null}}`` (null: still running;
  a run the host never started or forgot reads as ``-9999``)
"""
from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_cylon.runtime import warm_resident

#: Exit codes of reaped children kept for polls (a job's waiter reads them within seconds).
MAX_REMEMBERED_EXITS = 4096
#: Returned for a run this host does not know (never started, or forgotten).
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
    """In a one-shot forked child: become a worker process under the request's memory limit, run
    the worker once, and leave with its exit code (never returns)."""
    code = warm_resident.CRASHED
    try:
        warm_resident.become_worker_process()
        limit = int(request["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        code = warm_resident.run_once(request)
    except BaseException:  # noqa: BLE001 - the child must never return into the host's loop
        traceback.print_exc()
    finally:
        os._exit(code)


@dataclass
class Resident:
    """A resident worker process (``runtime/warm_resident.py``) and the host's end of its socket pair."""

    pid: int
    conn: socket.socket
    run: str | None = None
    buffer: bytearray = field(default_factory=bytearray)


class WarmHost:
    """The host's state: the listening socket, the resident workers, one-shot children and exit codes."""

    def __init__(self, path: str, idle_s: float, max_idle_residents: int | None = None) -> None:
        self.path, self.idle_s = path, idle_s
        self.max_idle = max_idle_residents if max_idle_residents is not None else warm_resident.IDLE_RESIDENTS
        self.oneshots: dict[int, str] = {}  # pid -> run of a one-shot fork
        self.idle: list[Resident] = []
        self.busy: dict[str, Resident] = {}  # run -> resident serving it
        self.exits: dict[str, int] = {}
        self.runs = 0
        self.last_request = time.monotonic()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)  # fails when another host already serves this path: that one wins
        os.chmod(path, 0o600)
        self.sock.listen(256)

    # -- children --------------------------------------------------------------------------
    def _record(self, run: str, code: int) -> None:
        self.exits[run] = code
        while len(self.exits) > MAX_REMEMBERED_EXITS:
            self.exits.pop(next(iter(self.exits)))

    def _drop(self, resident: Resident, code: int | None) -> None:
        """Forget a resident that died or left; its current run (if any) ends with ``code``."""
        if resident.run is not None and self.busy.get(resident.run) is resident:
            del self.busy[resident.run]
            self._record(resident.run, UNKNOWN_PID if code is None else code)
        if resident in self.idle:
            self.idle.remove(resident)
        resident.conn.close()

    def _resident_by_pid(self, pid: int) -> Resident | None:
        return next((r for r in [*self.busy.values(), *self.idle] if r.pid == pid), None)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            if pid in self.oneshots:
                self._record(self.oneshots.pop(pid), code)
            elif (resident := self._resident_by_pid(pid)) is not None:
                self._drop(resident, code)

    def _finished(self, resident: Resident) -> None:
        """Read what a busy resident wrote: its run's exit code (then it is idle again), or EOF."""
        try:
            chunk = resident.conn.recv(1 << 16)
        except OSError:
            chunk = b""
        if not chunk:  # it died (killed, or it left): its exit status says how the run ended
            try:
                _, status = os.waitpid(resident.pid, 0)
                code: int | None = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                code = None
            # A resident leaves cleanly only between runs: one that ended mid-run did not finish it.
            self._drop(resident, warm_resident.CRASHED if code == 0 else code)
            return
        resident.buffer += chunk
        while (line := warm_resident.pop_line(resident.buffer)) is not None:
            run, reply = resident.run, json.loads(line)
            if run is not None:
                self.busy.pop(run, None)
                self._record(run, int(reply["code"]))
                resident.run = None
                if reply.get("stays") and len(self.idle) < self.max_idle:
                    self.idle.append(resident)
                else:
                    resident.conn.close()  # EOF: it leaves (if it was not leaving); reap() collects it

    def _fork(self, target: Any) -> int:
        """Fork a child that closes every descriptor of the host's it must not hold, then runs ``target``."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.sock.close()
            for r in [*self.busy.values(), *self.idle]:
                r.conn.close()  # a sibling's pair stays between it and the host alone
            target()
        return pid

    def _new_resident(self) -> Resident:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

        def child() -> None:
            ours.close()
            warm_resident.serve(theirs)

        pid = self._fork(child)
        theirs.close()
        return Resident(pid, ours)

    def spawn(self, request: dict[str, Any]) -> dict[str, Any]:
        self.runs += 1
        run = f"r{self.runs}"
        if request.get("memory_mb"):
            # An address-space limit cannot be lifted again in the same process: a one-shot fork.
            pid = self._fork(lambda: _run_child(request))
            self.oneshots[pid] = run
            return {"pid": pid, "run": run}
        line = json.dumps({k: request[k] for k in ("argv", "env", "log")}).encode() + b"\n"
        while True:
            resident = self.idle.pop() if self.idle else self._new_resident()
            try:
                resident.conn.sendall(line)
            except OSError:  # it left meanwhile: forget it, take another
                self._drop(resident, None)
                continue
            resident.run = run
            self.busy[run] = resident
            return {"pid": resident.pid, "run": run}

    # -- requests --------------------------------------------------------------------------
    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid(), "idle": [r.pid for r in self.idle],
                    "busy": [r.pid for r in self.busy.values()]}
        if op == "poll":
            self.collect(0)
            self.reap()
            running = set(self.busy) | set(self.oneshots.values())
            return {"codes": {str(r): (None if r in running else self.exits.get(r, UNKNOWN_PID))
                              for r in (str(x) for x in request.get("runs", []))}}
        if op == "spawn":
            return self.spawn(request)
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

    def collect(self, timeout: float) -> list[socket.socket]:
        """Wait up to ``timeout`` for a request or a run's end; handle the ends, return the ready listener."""
        by_conn = {r.conn: r for r in self.busy.values()}
        readable, _, _ = select.select([self.sock, *by_conn], [], [], timeout)
        for conn in readable:
            if conn in by_conn:
                self._finished(by_conn[conn])
        return [c for c in readable if c is self.sock]

    def serve(self) -> None:
        try:
            while True:
                ready = self.collect(0.2)
                self.reap()
                if ready:
                    conn, _ = self.sock.accept()
                    try:
                        self.serve_one(conn)
                    except OSError:
                        pass  # the client went away mid-request; it retries or starts cold
                elif (not self.busy and not self.oneshots
                      and time.monotonic() - self.last_request > self.idle_s):
                    return
        finally:
            self.close()

    def close(self) -> None:
        for resident in [*self.idle, *self.busy.values()]:
            resident.conn.close()  # EOF: an idle resident leaves; a busy one after its run
        self.idle.clear()
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
