"""Local executor: each worker is a process running the Lambda handler.

Every process gets the same JSON event a Lambda would
(``python -m airflow_provider_cylon.runtime.worker_process EVENT_JSON @DEADLINE``:
the handler, in a process set up like a Lambda execution environment), a
Lambda-like context with the remaining time, and optionally a memory limit
(``RLIMIT_AS``). The executor enforces the function timeout (kill, like
Lambda), notices a process that died without reporting (killed, crashed, out of
memory) and aborts the job naming its rank, and kills whatever still runs once
the job has failed. It never imports Airflow.

A worker runs on the warm host (``client/executors/warm_workers.py``), which
imported the worker once, as a Lambda warm start keeps its imports, and runs it on a
resident process that keeps its heap between jobs (a one-shot fork under a memory
limit); with ``CYLON_WARM_WORKERS=0`` each is a fresh ``python -m`` process, a cold start.

Parallelism is bounded (:func:`default_max_workers`): a job asking for more
workers than this machine can hold is refused before any process starts. The
per-worker log directory lives until the job's outcome (and a failure's log
tail) was read: :func:`discard_logs`, called by ``JobClient.cleanup``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_cylon.client.executors.base import Executor, JobHandle
from airflow_provider_cylon.client.executors.warm_workers import WarmProcess, WarmWorkers, host_env, warm_enabled
from airflow_provider_cylon.client.snapshot import JobSnapshot, read_job_state, wait_for_final
from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
from airflow_provider_cylon.runtime.errors import ExecutorError
from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV, build_events

log = logging.getLogger(__name__)

HANDLER_MODULE = "airflow_provider_cylon.runtime.worker_process"

#: Overrides :func:`default_max_workers` (an integer): for machines this rule misjudges, or a
#: deliberate oversubscription (W=64 on a laptop to test the shuffle at scale).
MAX_WORKERS_ENV = "CYLON_LOCAL_MAX_WORKERS"
#: Co-located workers per core the default bound allows: workers spend much of a shuffle waiting
#: on each other, so a few per core still make progress; beyond that, start-up alone (about 1 s of
#: CPU per process for Python, pyarrow and the kernel) dominates and a 1001-worker job would take
#: many minutes just to start.
WORKERS_PER_CORE = 4
#: Memory one worker is assumed to need when ``memory_mb`` is not set: an idle worker process
#: (Python, pyarrow, the kernel) is about 120 MiB resident, and its share of a small job as much again.
DEFAULT_WORKER_MEMORY_MB = 256


@dataclass
class _Worker:
    invocation_id: str
    proc: subprocess.Popen[bytes] | WarmProcess
    log_path: str
    started: float
    rank: int | None = None
    reported_exit: bool = False


@dataclass
class _Job:
    handle: JobHandle
    workers: list[_Worker]
    log_dir: str
    function_timeout_s: float
    exit_codes: dict[str, int | None] = field(default_factory=dict)


def _limit_memory(memory_mb: int) -> None:  # runs in the child before exec
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def tail_lines(path: str, size: int = 64 * 1024) -> list[str]:
    """The non-empty lines of the last ``size`` bytes of a log file ([] when it is gone)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


#: Threads one worker may use (the kernel's and pyarrow's pools); see native/src/parallel.cpp.
THREADS_ENV = "CYLON_NUM_THREADS"


def threads_per_worker(world_size: int) -> int:
    """This machine's usable cores divided among ``world_size`` co-located workers (at least 1)."""
    return max(1, _usable_cores() // max(1, world_size))


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _memory_mb() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20))
    except (ValueError, OSError, AttributeError):  # not POSIX
        return None


def default_max_workers(memory_mb: int | None = None) -> tuple[int, str]:
    """The local parallelism bound of this machine and how it was derived (for messages).

    ``min(4 x usable cores, physical memory / worker memory)``, where worker memory is
    ``memory_mb`` (the executor's per-worker limit) or 256 MiB; ``$CYLON_LOCAL_MAX_WORKERS`` wins.

    :param memory_mb: the per-worker memory limit, if set.
    """
    explicit = os.environ.get(MAX_WORKERS_ENV)
    if explicit:
        try:
            value = int(explicit)
        except ValueError as err:
            raise ExecutorError(f"${MAX_WORKERS_ENV} must be an integer >= 1, found {explicit!r}") from err
        if value < 1:
            raise ExecutorError(f"${MAX_WORKERS_ENV} must be an integer >= 1, found {explicit!r}")
        return value, f"${MAX_WORKERS_ENV}={value}"
    cores = _usable_cores()
    per_worker = memory_mb or DEFAULT_WORKER_MEMORY_MB
    total = _memory_mb()
    by_cores = WORKERS_PER_CORE * cores
    if total is None:
        return by_cores, f"{WORKERS_PER_CORE} x {cores} cores"
    by_memory = max(1, total // per_worker)
    how = (f"min({WORKERS_PER_CORE} x {cores} cores = {by_cores}, {total / 1024:.1f} GiB memory / "
           f"{per_worker} MiB per worker = {by_memory})")
    return min(by_cores, by_memory), how


def discard_logs(handle: JobHandle) -> bool:
    """Delete a local job's log directory (``handle.extra["log_dir"]``) unless it was started with
    ``keep_logs``; whether one was deleted. Call it once the outcome and a failure's log tail were read.

    :param handle: the job's handle (as stored at submit; other executors' handles have no log dir).
    """
    log_dir = handle.extra.get("log_dir")
    if not log_dir or handle.extra.get("keep_logs") or not os.path.isdir(log_dir):
        return False
    shutil.rmtree(log_dir, ignore_errors=True)
    return True


def worker_defaults(world_size: int) -> dict[str, str]:
    """Environment defaults of co-located worker processes (a variable already set wins).

    * ``CYLON_NUM_THREADS``: :func:`threads_per_worker`.
    * ``MIMALLOC_ALLOW_THP=0``: pyarrow's allocator (mimalloc) maps its arenas with
      transparent huge pages. A fresh worker faults in all its memory once, and on a
      VM a 2 MiB fault ranged from 0.1 to 1.2 s per GB (host-backed or not), 4 KiB
      faults a steady 0.5 s per GB: the 10M x 10M Parquet join at W=2 took a median
      3.01 s with huge pages and 2.58 s without (5 runs each, interleaved).
    * ``MIMALLOC_PURGE_DELAY=-1``: mimalloc hands freed pages back to the OS after 10 ms,
      so the memory a worker frees (its input shares once shuffled, exchange buffers) is
      faulted in again when reused. A worker lives for one job: keeping it cost 7% more
      peak memory and saved 7% of page faults and 8% of CPU time on that join.
    """
    return {THREADS_ENV: str(threads_per_worker(world_size)), "MIMALLOC_ALLOW_THP": "0",
            "MIMALLOC_PURGE_DELAY": "-1"}


class LocalExecutor(Executor):
    """Start workers as local processes.

    :param function_timeout_s: per-worker limit (a Lambda's function timeout); the
        process is killed when it runs longer.
    :param memory_mb: optional address-space limit per worker (``RLIMIT_AS``).
    :param python: interpreter that runs the workers.
    :param env: extra environment variables for the workers.
    :param redis_password: a Redis password handed to the workers through the
        ``redis_password_env`` variable (never through the event).
    :param keep_logs: keep the per-worker log directory after the job (by default it is deleted
        once the outcome, and a failure's log tail, were read).
    :param max_workers: most workers one job may start here (default :func:`default_max_workers`:
        ``min(4 x cores, memory / worker memory)``, or ``$CYLON_LOCAL_MAX_WORKERS``).

    Workers share this machine's cores the way Lambda invocations each get their own:
    unless ``CYLON_NUM_THREADS`` is set (in ``env`` or this process), each worker is
    given ``max(1, cores // world_size)`` threads for the kernel and pyarrow's pool.
    Two workers on two cores with two threads each ran the 10M x 10M join 15-25% slower
    than with one each (oversubscribed, and every thread faults in its own memory).
    """

    name = "local"

    def __init__(
        self,
        *,
        function_timeout_s: float = 900.0,
        memory_mb: int | None = None,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        redis_password: str | None = None,
        keep_logs: bool = False,
        max_workers: int | None = None,
    ) -> None:
        if function_timeout_s <= 0:
            raise ExecutorError(f"function_timeout_s must be > 0, found {function_timeout_s}")
        if memory_mb is not None and memory_mb < 64:
            raise ExecutorError(f"memory_mb must be >= 64, found {memory_mb}")
        if max_workers is not None and (isinstance(max_workers, bool) or max_workers < 1):
            raise ExecutorError(f"max_workers must be >= 1, found {max_workers!r}")
        self.function_timeout_s = function_timeout_s
        self.memory_mb = memory_mb
        self.python = python
        self.env = dict(env or {})
        self.redis_password = redis_password
        self.keep_logs = keep_logs
        self.max_workers, self._bound_from = ((max_workers, f"max_workers={max_workers}") if max_workers
                                              else default_max_workers(memory_mb))
        self._jobs: dict[str, _Job] = {}

    def check_parallelism(self, world_size: int) -> None:
        """Refuse a job with more workers than this machine's bound, before any process starts.

        :param world_size: workers the job asks for.
        :raises ExecutorError: naming the bound, how it was derived and how to raise it.
        """
        if world_size > self.max_workers:
            raise ExecutorError(
                f"parallelism={world_size} exceeds the local executor's bound of {self.max_workers} workers on "
                f"this machine ({self._bound_from}); lower parallelism, or raise the bound with the cylon "
                f"connection's extra local_max_workers, the {MAX_WORKERS_ENV} environment variable or "
                "LocalExecutor(max_workers=...) (for many workers, the lambda executor)")

    # -- submit ------------------------------------------------------------------------------
    def submit(
        self,
        job_id: str,
        world_size: int,
        redis_url: str,
        *,
        redis_password_env: str = DEFAULT_PASSWORD_ENV,
        invocation_prefix: str | None = None,
        timeout_s: float | None = None,
    ) -> JobHandle:
        """Start ``world_size`` worker processes (returns at once).

        :param job_id: the job id (its spec must already be in Redis).
        :param world_size: number of processes.
        :param redis_url: Redis URL without a password.
        :param redis_password_env: variable the workers read the password from.
        :param invocation_prefix: stable invocation-id prefix.
        :param timeout_s: per-worker limit (defaults to ``function_timeout_s``).
        """
        self.check_parallelism(world_size)
        events = build_events(job_id, redis_url, world_size, redis_password_env=redis_password_env,
                              invocation_prefix=invocation_prefix)
        limit = float(timeout_s or self.function_timeout_s)
        env = {**os.environ, **self.env}
        for name, value in worker_defaults(world_size).items():
            env.setdefault(name, value)
        if self.redis_password is not None:
            env[redis_password_env] = self.redis_password
        log_dir = tempfile.mkdtemp(prefix=f"cylon-{job_id[:40]}-")
        warm = WarmWorkers(self.python, host_env(env, redis_password_env)) if warm_enabled(env) else None
        workers: list[_Worker] = []
        try:
            for event in events:
                path = os.path.join(log_dir, f"{event.invocation_id}.log")
                argv = [event.to_json(), f"@{time.time() + limit:.3f}"]
                proc = warm.spawn(argv, env, path, self.memory_mb) if warm else self._start_cold(argv, env, path)
                workers.append(_Worker(event.invocation_id, proc, path, time.monotonic()))
        except BaseException:
            # No handle reaches anyone: stop what started and leave no directory behind.
            for w in workers:
                self._kill(w)
            shutil.rmtree(log_dir, ignore_errors=True)
            raise
        handle = JobHandle(job_id=job_id, world_size=world_size, redis_url=redis_url, events=events,
                           redis_password_env=redis_password_env,
                           extra={"pids": [w.proc.pid for w in workers], "log_dir": log_dir,
                                  "keep_logs": self.keep_logs})
        self._jobs[job_id] = _Job(handle, workers, log_dir, limit)
        # No job id here: the submitter's own line names the job once (short task-log lines).
        log.info("started %d local workers (pids %s)", world_size, handle.extra["pids"])
        return handle

    def _start_cold(self, argv: list[str], env: dict[str, str], log_path: str) -> subprocess.Popen[bytes]:
        """A fresh ``python -m`` worker process (a cold start: it imports everything itself)."""
        preexec = (lambda: _limit_memory(self.memory_mb)) if self.memory_mb else None  # noqa: E731
        with open(log_path, "wb") as sink:
            return subprocess.Popen([self.python, "-m", HANDLER_MODULE, *argv], stdout=sink,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    preexec_fn=preexec, start_new_session=True)

    # -- watch -------------------------------------------------------------------------------
    def _coordinator(self, handle: JobHandle) -> JobCoordinator:
        client = connect(handle.redis_url, password_env=handle.redis_password_env, password=self.redis_password)
        return JobCoordinator(client, handle.job_id, poll_s=0.5)

    def _rank_of(self, coordinator: JobCoordinator, worker: _Worker) -> int | None:
        if worker.rank is None:
            raw = coordinator.client.get(coordinator.keys.claim(worker.invocation_id))
            worker.rank = None if raw is None else int(raw)
        return worker.rank

    def _check_workers(self, job: _Job, coordinator: JobCoordinator) -> tuple[int | None, str] | None:
        """Abort reason when a worker died without reporting or ran past the function timeout."""
        reported: set[int] | None = None
        now = time.monotonic()
        for w in job.workers:
            code = w.proc.poll()
            if code is None:
                if now - w.started > job.function_timeout_s:
                    self._kill(w)
                    rank = self._rank_of(coordinator, w)
                    return rank, (f"rank {rank} (invocation {w.invocation_id}, pid {w.proc.pid}) ran past the function "
                            f"timeout of {job.function_timeout_s:.0f}s and was killed")
                continue
            if code == 0 or w.reported_exit:
                continue
            w.reported_exit = True
            rank = self._rank_of(coordinator, w)
            if reported is None:
                reported = {int(r) for r in coordinator.client.smembers(coordinator.keys.done)}
            if rank is not None and rank in reported:
                continue  # it reported its own error already (exit code 1)
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            return rank, (f"rank {rank} (invocation {w.invocation_id}, pid {w.proc.pid}) {how} without reporting; "
                    f"log tail: {self._tail(w.log_path)}")
        if all(w.proc.poll() is not None for w in job.workers):
            # A rank may be held by a delivery this executor did not start (at-least-once
            # delivery: the first of two deliveries owns the rank, the other exits as a
            # duplicate): while some rank still beats, it is running, and the heartbeat
            # watch fails the job if it stops. A finished rank removes its beat.
            if (not read_job_state(coordinator.client, coordinator.job_id).is_terminal
                    and not coordinator.client.zcard(coordinator.keys.heartbeats)):
                return None, ("every worker exited but none published a manifest (see the worker logs in "
                              f"{job.log_dir})")
        return None

    @staticmethod
    def _tail(path: str, size: int = 600) -> str:
        text = " | ".join(tail_lines(path, size=size))
        return text or "(no log)"

    def log_tail(self, handle: JobHandle, invocation_id: str, lines: int) -> list[str]:
        """The last ``lines`` lines of the worker's log file (stdout and stderr; kept after a failure).

        :param handle: the job's handle (``extra["log_dir"]``).
        :param invocation_id: the worker's invocation.
        :param lines: how many lines at most.
        """
        log_dir = handle.extra.get("log_dir")
        return tail_lines(os.path.join(log_dir, f"{invocation_id}.log"))[-lines:] if log_dir else []

    @staticmethod
    def _kill(worker: _Worker) -> None:
        if worker.proc.poll() is None:
            try:
                os.killpg(worker.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            worker.proc.wait()

    def wait(self, handle: JobHandle, timeout_s: float,
             on_progress: Callable[[JobSnapshot], None] | None = None) -> JobSnapshot:
        """Wait for the manifest or the abort key while watching the processes.

        On failure or timeout the remaining processes are killed (a timeout aborts
        the job first). Exit codes are left in ``handle.extra["exit_codes"]``
        (invocation id -> code).

        :param handle: from :meth:`submit`.
        :param timeout_s: how long to wait.
        :param on_progress: called with every snapshot read while waiting.
        """
        job = self._jobs.get(handle.job_id)
        if job is None:
            return super().wait(handle, timeout_s, on_progress)
        coordinator = self._coordinator(handle)
        try:
            snap = wait_for_final(coordinator, timeout_s, on_progress=on_progress,
                                  should_stop=lambda: self._check_workers(job, coordinator))
            if snap.is_successful:
                end = time.monotonic() + 30
                for w in job.workers:  # they exit right after reporting
                    try:
                        w.proc.wait(max(0.1, end - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        self._kill(w)
            else:
                if not snap.is_terminal:
                    coordinator.abort(f"no manifest or abort after {timeout_s:.0f}s ({snap.done} ranks reported)",
                                      world_size=handle.world_size)
                # Let peers see the abort and report, then kill; with the coordination state lost
                # there is nothing left to report to.
                grace = time.monotonic() + (0 if snap.lost else 5)
                for w in job.workers:
                    try:
                        w.proc.wait(max(0.05, grace - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        self._kill(w)
                if not snap.lost:
                    statuses = read_job_state(coordinator.client, handle.job_id, with_statuses=True).statuses
                    snap = dataclasses.replace(snap, statuses=statuses)
        finally:
            job.exit_codes = {w.invocation_id: w.proc.poll() for w in job.workers}
            handle.extra["exit_codes"] = job.exit_codes
            coordinator.client.close()
        if snap.is_successful:
            discard_logs(handle)
        else:  # until the failure's log tail was read (JobClient.cleanup discards it)
            log.info("worker logs in %s", job.log_dir)
        self._jobs.pop(handle.job_id, None)
        return snap

    def cancel(self, handle: JobHandle, reason: str = "cancelled by the submitter") -> None:
        """Abort the job and kill its processes after a short grace period.

        :param handle: from :meth:`submit`.
        :param reason: recorded in the abort key.
        """
        coordinator = self._coordinator(handle)
        try:
            coordinator.abort(reason, world_size=handle.world_size)
        finally:
            coordinator.client.close()
        job = self._jobs.pop(handle.job_id, None)
        if job is None:
            return
        grace = time.monotonic() + 3
        for w in job.workers:
            try:
                w.proc.wait(max(0.05, grace - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(w)

    def close(self) -> None:
        """Kill every process this executor still tracks (their logs stay for ``JobClient.cleanup``)."""
        for job in list(self._jobs.values()):
            for w in job.workers:
                self._kill(w)
        self._jobs.clear()
