"""JobSnapshot: one read of a Cylon job's Redis keys (named in runtime/protocol.py), and the wait on it.

The one state type of the submit side: executors, ``run_job``, the hook, the
operators, the sensor and the trigger all read a job through
:func:`read_job_state` / :func:`a_read_job_state` and judge it with
:attr:`JobSnapshot.state`. Barriers are keys and sets, never pub/sub: a waiter
that was not listening when a worker finished still sees the result.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_cylon.runtime.heartbeat import dead_rank_message, dead_rank_of, queue_stalest
from airflow_provider_cylon.runtime.errors import CoordinationLostError, JobFailedError, WorkerTimeoutError
from airflow_provider_cylon.runtime.protocol import job_key, parse_abort_record
from airflow_provider_cylon.runtime.spec import DEFAULT_HEARTBEAT_TIMEOUT_S

if TYPE_CHECKING:
    from airflow_provider_cylon.runtime.bootstrap import JobCoordinator

#: States of :attr:`JobSnapshot.state`; the first two are terminal.
STATES = ("success", "failed", "running")

#: Longest traceback carried in an event or XCom (the full one stays in Redis / worker logs).
MAX_TRACEBACK_CHARS = 8000
#: Consecutive Redis errors a sync wait tolerates (a restart takes a few seconds) before it raises.
MAX_REDIS_ERRORS = 5


#: Seconds after the submit by which every rank must have claimed its rank (``$CYLON_ATTACH_TIMEOUT_S``).
#: A worker that never starts (a Lambda failing before the handler, an image that cannot be pulled, an
#: invocation stuck in the asynchronous queue) never beats, so no heartbeat can go stale: without this
#: deadline the job would count as alive until its timeout. Two minutes cover a Lambda cold start of a
#: container image and a loaded machine starting many local processes.
DEFAULT_ATTACH_TIMEOUT_S = 120.0
ATTACH_TIMEOUT_ENV = "CYLON_ATTACH_TIMEOUT_S"


def attach_timeout_s() -> float:
    """``$CYLON_ATTACH_TIMEOUT_S`` (0 disables the check), else :data:`DEFAULT_ATTACH_TIMEOUT_S`."""
    import os

    try:
        return float(os.environ.get(ATTACH_TIMEOUT_ENV) or DEFAULT_ATTACH_TIMEOUT_S)
    except ValueError:
        return DEFAULT_ATTACH_TIMEOUT_S


def unattached_message(snap: JobSnapshot, waited_s: float, limit_s: float) -> str | None:
    """The error of a running job some of whose ranks never started within ``limit_s``; None when all did.

    :param snap: a fresh read (``claimed``: ranks claimed so far).
    :param waited_s: seconds since the submit.
    :param limit_s: the attach timeout (0: never).
    """
    world = snap.world_size
    if limit_s <= 0 or waited_s < limit_s or world is None or snap.is_terminal or min(snap.claimed, world) >= world:
        return None
    return (f"job_id={snap.job_id}: only {min(snap.claimed, world)} of {world} workers started within "
            f"{limit_s:g}s of the submit; the others never ran (a Lambda invocation that failed before its "
            "handler, an image that could not be pulled, throttled in the asynchronous queue, or a local "
            f"process that died at start): see the worker logs. ${ATTACH_TIMEOUT_ENV} raises the limit")


def lost_message(job_id: str) -> str:
    """The error of a job whose coordination state vanished from Redis while it was watched."""
    return (f"job_id={job_id}: coordination state lost: the job's keys (cylon:{job_id}:spec and the rest) are "
            "gone from Redis while it ran: the server restarted without persistence, was flushed "
            "(FLUSHALL/FLUSHDB), evicted them (maxmemory-policy), or they were deleted. Workers still running "
            "stop when they notice; the output was not published. Re-run the task: it starts a fresh job")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _json(value: Any) -> Any:
    text = _text(value)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"raw": text}


def heartbeat_timeout_of_spec(spec: Any) -> float:
    """``heartbeat_timeout_s`` of a stored JobSpec (the runtime's default when absent; 0: off)."""
    value = spec.get("heartbeat_timeout_s") if isinstance(spec, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else DEFAULT_HEARTBEAT_TIMEOUT_S


def world_size_of_spec(spec: Any) -> int | None:
    """World size recorded in a stored JobSpec (JSON dict), if it says so."""
    if not isinstance(spec, dict):
        return None
    for name in ("world_size", "parallelism"):
        value = spec.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None


@dataclass(frozen=True)
class JobSnapshot:
    """One read of a job's keys.

    :param job_id: the job.
    :param manifest: the published manifest (job succeeded), or None.
    :param abort: the abort record ``{"rank", "error"}`` (job failed), or None.
    :param done: ranks that reported (``SCARD done``).
    :param world_size: workers expected, from the stored spec (None if unknown).
    :param barrier_count: arrivals at the named barrier, when one was asked for.
    :param dead_rank: ``(rank, seconds)`` of a rank whose heartbeat is older than the
        spec's ``heartbeat_timeout_s`` (runtime/heartbeat.py), or None.
    :param spec_found: whether ``cylon:{job}:spec`` exists (a submitted job without it lost its state).
    :param claimed: ranks claimed so far (the ``rank`` counter; surplus invocations included).
    """

    job_id: str
    manifest: dict[str, Any] | None
    abort: dict[str, Any] | None
    done: int
    world_size: int | None
    barrier_count: int | None = None
    statuses: dict[int, Any] = field(default_factory=dict)
    dead_rank: tuple[int, float] | None = None
    spec_found: bool = True
    claimed: int = 0

    @property
    def lost(self) -> bool:
        """No spec and no manifest: the coordination state is gone (flushed, restarted, deleted).

        Judged by whoever knows the job was submitted (:class:`JobWatch`, the executors' wait):
        before its submit, a job has no spec either.
        """
        return (not self.spec_found and self.manifest is None
                and (self.abort is None or bool(self.abort.get("lost"))))  # a real abort record says more

    def mark_lost(self) -> JobSnapshot:
        """This snapshot, failed with :func:`lost_message` (a local verdict: nothing is written to Redis)."""
        if not self.lost or self.abort is not None:
            return self
        return replace(self, abort={"rank": None, "error": lost_message(self.job_id), "lost": True})

    @property
    def state(self) -> str:
        """``success`` (the manifest is published), ``failed`` (abort record, or a dead rank) or ``running``.

        The manifest wins: the output was committed atomically, whatever a rank
        reported afterwards (docs/contracts.md).
        """
        if self.manifest is not None:
            return "success"
        if self.abort is not None or self.dead_rank is not None:
            return "failed"
        return "running"

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (succeeded or failed)."""
        return self.state != "running"

    @property
    def is_successful(self) -> bool:
        """Whether the job published its manifest."""
        return self.state == "success"

    def raise_for_failure(self) -> dict[str, Any]:
        """The manifest; or :class:`JobFailedError` naming the failing rank, or
        :class:`WorkerTimeoutError` when the job is still running (the wait ended first)."""
        if self.manifest is not None:
            return self.manifest
        if self.state == "running":
            raise WorkerTimeoutError(f"job_id={self.job_id} did not finish in time: {self.done} of "
                                     f"{self.world_size if self.world_size is not None else '?'} ranks reported",
                                     job_id=self.job_id)
        details = self.failure_details()
        where = f" on rank {details['rank']}" if details["rank"] is not None else ""
        text = "\n".join(part for part in (details["error"], details.get("traceback")) if part)
        raise JobFailedError(f"job_id={self.job_id} failed{where}: {text}", job_id=self.job_id,
                             failed_rank=details["rank"], error=text)

    @property
    def error(self) -> str:
        """The failing rank's error message of a failed job ("" otherwise)."""
        return str(self.failure_details()["error"]) if self.state == "failed" else ""

    @property
    def failed_rank(self) -> int | None:
        """Rank named by the abort record (or, before any abort, the dead rank), if any."""
        if not self.abort:
            return self.dead_rank[0] if self.dead_rank else None
        rank = self.abort.get("rank")
        return rank if isinstance(rank, int) else None

    def failure_details(self) -> dict[str, Any]:
        """``rank``, ``error`` and (when reported) ``traceback`` of the failing rank.

        The failing rank's status record has the short message and the traceback;
        without one, the abort record's text is split into its first line (the
        message) and the rest (the traceback).
        """
        abort = self.abort or {}
        rank = self.failed_rank
        text = str(abort.get("error") or
                   (dead_rank_message(*self.dead_rank) if self.dead_rank and not self.abort else "job aborted"))
        error, _, rest = text.partition("\n")
        traceback: str | None = rest.strip() or None
        status = self.statuses.get(rank) if rank is not None else None
        if isinstance(status, dict):
            error = str(status.get("error") or error)
            traceback = status.get("traceback") or traceback
        details: dict[str, Any] = {"rank": rank, "error": error}
        if traceback:
            details["traceback"] = str(traceback)[-MAX_TRACEBACK_CHARS:]
        return details

    def worker_summaries(self) -> list[dict[str, Any]]:
        """Per-worker status records sorted by rank (tracebacks trimmed)."""
        out: list[dict[str, Any]] = []
        for rank in sorted(self.statuses):
            status = self.statuses[rank]
            record = dict(status) if isinstance(status, dict) else {"raw": status}
            record.setdefault("rank", rank)
            if isinstance(record.get("traceback"), str):
                record["traceback"] = record["traceback"][-MAX_TRACEBACK_CHARS:]
            out.append(record)
        return out


def _statuses(raw: dict[Any, Any] | None) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for rank, value in (raw or {}).items():
        try:
            out[int(_text(rank) or "")] = _json(value)
        except ValueError:
            continue
    return out


def _snapshot(job_id: str, values: list[Any], with_barrier: bool, statuses: Any) -> JobSnapshot:
    manifest, abort, done, raw_spec, claimed, server_time, stalest = values[:7]
    spec = _json(raw_spec)
    return JobSnapshot(
        job_id=job_id,
        manifest=_json(manifest),
        abort=parse_abort_record(abort),
        done=int(done or 0),
        world_size=world_size_of_spec(spec),
        barrier_count=int(values[7] or 0) if with_barrier else None,
        statuses=_statuses(statuses),
        dead_rank=dead_rank_of(server_time, stalest, heartbeat_timeout_of_spec(spec)),
        spec_found=raw_spec is not None,
        claimed=int(claimed or 0),
    )


def _queue(pipe: Any, job_id: str, barrier: str | None) -> None:
    pipe.get(job_key(job_id, "manifest"))
    pipe.get(job_key(job_id, "abort"))
    pipe.scard(job_key(job_id, "done"))
    pipe.get(job_key(job_id, "spec"))
    pipe.get(job_key(job_id, "rank"))
    queue_stalest(pipe, job_key(job_id, "heartbeats"))  # judged by the runtime's rule
    if barrier is not None:
        pipe.scard(job_key(job_id, f"barrier:{barrier}"))


def read_job_state(client: Any, job_id: str, barrier: str | None = None, with_statuses: bool = False) -> JobSnapshot:
    """Read a job's keys in one round trip with a sync redis client.

    :param client: ``redis.Redis``.
    :param job_id: the job.
    :param barrier: name of a barrier whose arrivals to count, if any.
    :param with_statuses: also read the per-rank status hash.
    """
    pipe = client.pipeline(transaction=False)
    _queue(pipe, job_id, barrier)
    values = pipe.execute()
    statuses = client.hgetall(job_key(job_id, "status")) if with_statuses else None
    return _snapshot(job_id, values, barrier is not None, statuses)


async def a_read_job_state(
    client: Any, job_id: str, barrier: str | None = None, with_statuses: bool = False
) -> JobSnapshot:
    """Async twin of :func:`read_job_state` for ``redis.asyncio.Redis``."""
    pipe = client.pipeline(transaction=False)
    _queue(pipe, job_id, barrier)
    values = await pipe.execute()
    statuses = await client.hgetall(job_key(job_id, "status")) if with_statuses else None
    return _snapshot(job_id, values, barrier is not None, statuses)


def wait_for_final(coordinator: JobCoordinator, timeout_s: float, *,
                   on_progress: Callable[[JobSnapshot], None] | None = None,
                   should_stop: Callable[[], tuple[int | None, str] | None] | None = None) -> JobSnapshot:
    """Block until the job ends or ``timeout_s`` passes; the last snapshot, read with statuses.

    Never spins: it BLPOPs ``wake:final`` (pushed on every report, the manifest and
    an abort) in slices of at most ``coordinator.poll_s``. A rank whose heartbeat
    stopped is aborted by name (so its peers stop too). The job was submitted, so a
    spec that is gone means its coordination state was lost (a Redis restart or
    flush): the snapshot is failed at once (:meth:`JobSnapshot.mark_lost`), not
    waited on until the timeout. A few Redis errors in a row (a restart) are retried.

    :param coordinator: the job's coordinator (no rank: the submitter's view).
    :param timeout_s: how long to wait; a snapshot still ``running`` means it ran out.
    :param on_progress: called with every snapshot read.
    :param should_stop: polled each wake; a returned ``(rank, message)`` aborts the job with it
        (e.g. an executor noticing a dead process).
    """
    import redis.exceptions

    client, job_id = coordinator.client, coordinator.job_id
    started, attach_limit = time.monotonic(), attach_timeout_s()
    end = started + timeout_s
    spec = coordinator.get_spec()
    if spec is not None:
        coordinator.watch_heartbeats(spec.heartbeat_timeout_s)
    errors = 0
    while True:
        try:
            try:
                coordinator.check_peers()
            except CoordinationLostError:
                pass  # the read below sees the spec gone and fails the job as lost
            snap = read_job_state(client, job_id)
            errors = 0
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            errors += 1
            if errors >= MAX_REDIS_ERRORS or time.monotonic() >= end:
                raise
            time.sleep(min(0.2 * 2 ** errors, 5.0))
            continue
        if snap.lost:
            snap = snap.mark_lost()
            if on_progress is not None:
                on_progress(snap)
            return snap
        if on_progress is not None:
            on_progress(snap)
        if snap.is_terminal:
            break
        stop = should_stop() if should_stop is not None else None
        unattached = unattached_message(snap, time.monotonic() - started, attach_limit)
        if unattached and not stop:
            stop = (None, unattached)  # abort: the ranks that did start stop too
        if stop:
            coordinator.abort(stop[1], rank=stop[0])
            continue
        left = end - time.monotonic()
        if left <= 0:
            break
        # A single waiter consumes the token; other waiters on the same job see the
        # change within poll_s (tokens are hints, the state is always re-read).
        try:
            client.blpop([coordinator.keys.wake_final], timeout=max(0.01, min(coordinator.poll_s, left)))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            continue  # counted by the next read
    final = read_job_state(client, job_id, with_statuses=True)
    return final.mark_lost() if final.lost else final
