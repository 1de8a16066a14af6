"""A resident warm worker: a process forked by the warm host that runs one worker after another.

A worker's first read of a Parquet share on this kind of machine spends most of its
time faulting in fresh memory, not decoding: the kernel zeroes every new page
(``clear_page_erms`` was 40% of a first read's samples under ``perf``). TPC-H Q6's
half of lineitem (four columns, 3M rows) read and filtered in 0.32 s of CPU in a
fresh process and 0.17 s in one that had done it before, with 77k against 1k page
faults. A Lambda execution environment that ran before keeps its heap between
invocations; a resident is that for local workers. The allocator keeps what a run
freed (``MIMALLOC_PURGE_DELAY=-1``), so the next run reuses mapped pages.

Each run is set up as a fresh worker process would be (stdout and stderr into its log
file, the job's whole environment, ``sys.argv``) and undone afterwards (the host's
environment back, the output descriptors restored). What is not reused:

* a run that did not end with exit code 0: a failed worker may have left threads or
  sockets behind, so its process leaves, with the run's code as its exit status (as a
  crashed Lambda environment is discarded; the code is known only once it is gone);
* a process whose resident set grew past ``CYLON_WARM_RESIDENT_MAX_MB`` (default: its share
  of half the machine's memory among the idle residents, at most 4096) even after handing
  its allocator's free pages back: it reports and leaves.

Protocol with the host, over a socket pair, JSON lines (no pickle): the host writes one
run request ``{"argv", "env", "log"}``; the resident answers ``{"code": 0, "stays": bool}``
when the run succeeded (``stays``: it waits for another run; otherwise it is leaving), and
exits with the run's code when it failed. End of file from the host (it stopped) ends the resident.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import traceback
from typing import Any

MAX_RSS_ENV = "CYLON_WARM_RESIDENT_MAX_MB"
#: Idle residents a host keeps (more leave once their run ends).
IDLE_RESIDENTS = max(2, os.cpu_count() or 1)
#: Exit code of a run whose worker raised out of ``main`` (as the one-shot fork uses).
CRASHED = 70


def resident_set_mb() -> float:
    """This process's resident memory in MiB (``/proc/self/statm``)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


def default_max_rss_mb() -> float:
    """What one resident may keep: its share of half the machine's memory among the idle residents,
    at most 4 GiB (TPC-H SF 1's Q1 left 1.7-1.9 GB per rank at W = 2, 3-4 GB at W = 1)."""
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 20)
    except (ValueError, OSError):
        total_mb = 8192.0
    return min(4096.0, total_mb / (2 * IDLE_RESIDENTS))


def _max_rss_mb() -> float:
    try:
        return float(os.environ[MAX_RSS_ENV])
    except (KeyError, ValueError):
        return default_max_rss_mb()


def _keeps_within_bound() -> bool:
    """After a run: whether this process stays, handing memory back first when it grew past the bound."""
    if resident_set_mb() <= _max_rss_mb():
        return True
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # freed pages back to the OS; the imports stay warm
    return resident_set_mb() <= _max_rss_mb()


def run_once(request: dict[str, Any]) -> int:
    """Run one worker as a fresh process would, then put the process back as it was.

    :param request: ``{"argv": [...], "env": {...}, "log": PATH}``.
    :returns: the worker's exit code (:data:`CRASHED` when it raised).
    """
    host_env = dict(os.environ)
    saved = (os.dup(1), os.dup(2))
    code = CRASHED
    try:
        fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        argv = [str(a) for a in request["argv"]]
        sys.argv = ["airflow_provider_cylon.runtime.worker_process", *argv]
        from airflow_provider_cylon.runtime import worker_process

        code = worker_process.main(argv)
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
    except BaseException:  # noqa: BLE001 - a run's failure must not end the resident's loop unreported
        traceback.print_exc()
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        os.environ.clear()
        os.environ.update(host_env)
    return code


def pop_line(buffer: bytearray) -> bytes | None:
    """The first complete JSON line in ``buffer`` (removed from it), or None."""
    if b"\n" not in buffer:
        return None
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def _read_line(conn: socket.socket, buffer: bytearray) -> bytes | None:
    while (line := pop_line(buffer)) is None:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return None
        buffer += chunk
    return line


def become_worker_process() -> None:
    """In a child forked by the host: what a fresh worker process has (its own session, so the
    executor kills it by its process group as a cold one; default signals; stdin from /dev/null)."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def serve(conn: socket.socket) -> None:
    """In the forked child: become a worker process and run requests until the host goes (never returns)."""
    code = 0
    try:
        become_worker_process()
        buffer = bytearray()
        while True:
            line = _read_line(conn, buffer)
            if line is None:
                break  # the host stopped
            run_code = run_once(json.loads(line))
            if run_code != 0:
                # Leave with the run's code as the exit status (the host reads it when it reaps us):
                # once a failed run's code is known its process is gone, as a cold worker's is.
                code = run_code
                break
            stays = _keeps_within_bound()
            conn.sendall(json.dumps({"code": run_code, "stays": stays}).encode() + b"\n")
            if not stays:
                break
    except BaseException:  # noqa: BLE001 - never return into the host's loop
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)
