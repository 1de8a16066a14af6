"""One worker's life: bootstrap -> read -> compute -> write -> report.

1. Bootstrap: load the spec from Redis, claim a rank (once per invocation id),
   open the channel, exchange endpoints (all_gather ``endpoints``; channels
   without endpoints meet at barrier ``started`` instead).
2. Read this rank's share of every input (balanced by bytes); barrier ``read``.
3. Compute the steps (kernel + channel all_to_all); barrier ``computed``.
4. Write ``part-{rank:05d}`` under the staging prefix; gather ``parts`` to rank 0
   (the barrier before its commit: the other ranks publish theirs and end); rank 0
   commits and publishes the manifest.
5. Report the status (rows, bytes, phase timings) and join ``done``.

Any exception sets the abort key with this rank and the traceback, so every
peer (blocked in a barrier or a channel step) and the waiting submitter stop
within seconds. A redelivered invocation (same invocation id) gets its old rank
back and leaves without touching anything: the first delivery owns that rank.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import redis

from airflow_provider_cylon.kernel import _ext
from airflow_provider_cylon.runtime import ops, storage
from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
from airflow_provider_cylon.runtime.context import WorkerStats
from airflow_provider_cylon.runtime.errors import (
    ChannelError,
    CoordinationError,
    CoordinationLostError,
    JobAbortedError,
    WorkerTimeoutError,
)
from airflow_provider_cylon.runtime.event import InvocationEvent
from airflow_provider_cylon.runtime.heartbeat import HeartbeatSender, spec_lost_message
from airflow_provider_cylon.runtime.plan import plan_job
from airflow_provider_cylon.runtime.protocol import abort_record
from airflow_provider_cylon.runtime.spec import JobSpec

log = logging.getLogger(__name__)

#: Seconds kept back from a Lambda's remaining time to report an error before being killed.
SAFETY_MARGIN_S = 5.0
#: Seconds a rank whose link to a peer broke waits for someone else's abort before its own.
PEER_FAILURE_GRACE_S = 2.0
#: Test-only fault injection: ``"RANK:SECONDS"`` makes that rank stall before computing,
#: while its peers already wait in the first exchange (used to kill a worker mid-shuffle).
STALL_ENV = "CYLON_TEST_STALL"


#: Test-only fault injection: ``"RANK:PHASE"`` makes that rank raise as it enters the phase
#: (``read``, ``compute``, ``write`` or ``commit``; rank 0 is the one that commits).
FAIL_ENV = "CYLON_TEST_FAIL"


def _maybe_fail(rank: int, phase: str) -> None:
    target, _, where = os.environ.get(FAIL_ENV, "").partition(":")
    if target.strip() == str(rank) and where.strip() == phase:
        raise RuntimeError(f"injected failure of rank {rank} in {phase} ({FAIL_ENV} is set: fault injection)")


def _maybe_stall(rank: int) -> None:
    spec = os.environ.get(STALL_ENV)
    if not spec:
        return
    target, _, seconds = spec.partition(":")
    if target.strip() == str(rank):
        log.warning("rank=%d stalling %ss (%s is set: fault injection for tests)", rank, seconds, STALL_ENV)
        time.sleep(float(seconds or 60))


def _require_live_job(client: redis.Redis, coordinator: JobCoordinator) -> None:
    """Stop before a phase that writes when the job was aborted or cleaned up meanwhile: a rank
    that was slow (or stalled) would otherwise send data and re-create keys of a job nobody reads."""
    if not client.exists(coordinator.keys.spec):
        raise CoordinationLostError(spec_lost_message(coordinator.keys.spec))
    coordinator.check_abort()


def _channel_for(spec: JobSpec, coordinator: JobCoordinator, rank: int, deadline: float) -> Any:
    """Build the spec's channel for this rank (runtime/channels)."""
    from airflow_provider_cylon.runtime.channels import ChannelContext, make_channel

    kwargs: dict[str, Any] = {}
    if spec.channel == "s3":
        prefix = spec.shuffle_prefix or f"{spec.output.destination.rstrip('/')}/{storage.STAGING_DIR}/{coordinator.job_id}/shuffle"
        filesystem, path = storage.resolve(prefix, spec.storage)
        kwargs.update(filesystem=filesystem, storage_path=path)
    ctx = ChannelContext(
        job_id=coordinator.job_id,
        rank=rank,
        world_size=spec.world_size,
        redis=coordinator.client,
        compression=None if spec.compression == "none" else spec.compression,
        ttl_s=spec.key_ttl_s,
        timeout_s=max(1.0, deadline - time.monotonic()),
        poll_s=0.5,
        abort_check=lambda: _abort_record(coordinator),
        **kwargs,
    )
    return make_channel(spec.channel, ctx)


def _abort_record(coordinator: JobCoordinator) -> Any:
    """What a channel polls while it waits: the abort key, after the heartbeat check (which
    sets it, naming the rank, when a peer stopped beating). A vanished spec (Redis flushed or
    restarted) reads as an abort, so the channel stops through its usual path."""
    try:
        coordinator.check_peers()
    except CoordinationLostError as err:
        return abort_record(str(err))
    return coordinator.client.get(coordinator.keys.abort)


def _abort_appears(coordinator: JobCoordinator, seconds: float) -> bool:
    """Wait up to ``seconds`` for an abort set by someone else; ``True`` if one appeared."""
    try:
        coordinator.wait_until(lambda: False, coordinator.keys.wake("never"), "a peer's abort", timeout_s=seconds)
    except JobAbortedError:
        return True
    except WorkerTimeoutError:
        return False
    return False


def _limit_pyarrow_threads() -> None:
    """When ``CYLON_NUM_THREADS`` is set, size pyarrow's CPU pool (Parquet decoding, casts)
    like the kernel's, which reads it (capped by the cores).

    A co-located worker (the local executor divides the cores among them) would otherwise
    decode with every core and oversubscribe the machine.
    """
    if pa.cpu_count() != _ext.num_threads():  # also undoes a previous job's size in a resident warm worker
        pa.set_cpu_count(_ext.num_threads())


def _where(redis_url: str) -> str:
    """``host:port`` of a Redis URL, for messages (never the credentials)."""
    parts = urlsplit(redis_url)
    return f"{parts.hostname}:{parts.port}" if parts.hostname else parts.scheme


def _advertised_host() -> str:
    """Address peers dial for the tcp channel: ``CYLON_WORKER_HOST`` or loopback."""
    return os.environ.get("CYLON_WORKER_HOST", "127.0.0.1")


def run_worker(
    event: InvocationEvent,
    *,
    remaining_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Run one worker of a job to the end and return its status.

    Never raises for job errors: they are recorded in Redis (abort + status) and in
    the returned dict (``state == "error"``), so a Lambda does not retry them.

    :param event: the invocation event.
    :param remaining_ms: time left before the platform kills this worker (Lambda's
        ``context.get_remaining_time_in_millis``); ``None`` = unbounded.
    :returns: ``{"state": "ok"|"error"|"duplicate"|"surplus"|"skipped", "rank", ...}``.
    """
    started = time.monotonic()
    _limit_pyarrow_threads()
    client = connect(event.redis_url, password_env=event.redis_password_env)
    try:
        return _run(event, client, started, remaining_ms)
    finally:
        client.close()


def _run(event: InvocationEvent, client: redis.Redis, started: float,
         remaining_ms: Callable[[], int] | None) -> dict[str, Any]:
    coordinator = JobCoordinator(client, event.job_id)
    try:
        spec = coordinator.get_spec()
        claim = None if spec is None else coordinator.claim_rank(event.invocation_id, spec.world_size)
    except redis.RedisError as err:  # Lambda retries a raised error: right for a Redis outage
        raise CoordinationError(f"job_id={event.job_id} invocation={event.invocation_id}: cannot bootstrap "
                                f"through Redis at {_where(event.redis_url)}: {err}", job_id=event.job_id) from err
    base = {"job_id": event.job_id, "invocation_id": event.invocation_id, "pid": os.getpid(),
            "host": socket.gethostname()}
    if spec is None or claim is None:
        log.warning("job_id=%s invocation=%s: no spec in Redis (unknown job, or finished and cleaned up); exiting",
                    event.job_id, event.invocation_id)
        return {**base, "state": "skipped", "rank": None, "reason": "no spec"}
    if claim.surplus:
        log.info("job_id=%s invocation=%s: surplus rank %d >= world size %d; exiting", event.job_id,
                 event.invocation_id, claim.rank, spec.world_size)
        return {**base, "state": "surplus", "rank": claim.rank}
    if not claim.fresh:
        log.info("job_id=%s rank=%d invocation=%s redelivered: the first delivery owns this rank; exiting",
                 event.job_id, claim.rank, event.invocation_id)
        return {**base, "state": "duplicate", "rank": claim.rank}

    rank, world = claim.rank, spec.world_size
    limit = spec.timeout_s
    if remaining_ms is not None:
        left = remaining_ms() / 1000.0
        limit = min(limit, left - min(SAFETY_MARGIN_S, 0.2 * left))
    deadline = started + max(1.0, limit)
    coordinator.attach(rank, world, deadline)
    coordinator.watch_heartbeats(spec.heartbeat_timeout_s)
    heartbeat = HeartbeatSender(client, coordinator.keys.heartbeats, coordinator.keys.spec, rank,
                                spec.heartbeat_timeout_s, spec.key_ttl_s)
    tag = f"job_id={event.job_id} rank={rank}"
    stats = WorkerStats()
    # threads: the kernel's (and pyarrow's) pool size, what CYLON_NUM_THREADS or the cores allow.
    status: dict[str, Any] = {**base, "rank": rank, "world_size": world, "threads": _ext.num_threads()}
    channel = None
    phase = "bootstrap"
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        stats.phases[name] = now - mark
        mark = now

    try:
        heartbeat.start()
        # Where pandas is importable (a handler called in-process; worker processes hide it),
        # pyarrow imports it on its first conversion of Python objects: about 0.4 s. Pay it
        # here, while peers start, not inside a timed step.
        pa.array([0])
        channel = _channel_for(spec, coordinator, rank, deadline)
        endpoint = channel.bind(_advertised_host()) if world > 1 else None
        if channel.needs_endpoints and world > 1:
            endpoints = coordinator.all_gather("endpoints", {"endpoint": endpoint, "pid": os.getpid()})
            channel.connect({r: e["endpoint"] for r, e in enumerate(endpoints) if e and e.get("endpoint")})
        else:  # nothing to exchange: a barrier, O(W) bytes where an all_gather reads O(W^2)
            coordinator.barrier("started")
            if world > 1:
                channel.connect({})
        lap("bootstrap")

        phase = "read"
        _maybe_fail(rank, phase)
        needed = {name for i in range(len(spec.steps)) for name in spec.step_inputs(i)}
        listings = {inp.name: storage.open_input(inp, spec.storage) for inp in spec.inputs}
        job_plan = plan_job(spec, {inp.name: storage.input_schema(inp, listing=listings[inp.name])
                                   for inp in spec.inputs})
        shares: dict[str, pa.Table] = {}
        for inp in spec.inputs:
            if inp.name in needed:
                request = job_plan.reads[inp.name]
                shares[inp.name] = storage.read_rank_share(inp, rank, world, spec.storage, request,
                                                           listing=listings[inp.name])
                stats.rows_in += shares[inp.name].num_rows
                stats.columns_read[inp.name] = list(request.columns or ())
        lap("read")
        coordinator.barrier("read")
        lap("wait_read")

        phase = "compute"
        _maybe_fail(rank, phase)
        _maybe_stall(rank)
        _require_live_job(client, coordinator)
        d = ops.Dist(channel=channel, rank=rank, world_size=world, stats=stats,
                     broadcast_threshold_bytes=spec.broadcast_threshold_bytes, job_id=event.job_id)
        # pop: the pipeline owns the shares, so each can be freed once its last step used it.
        result = ops.run_pipeline(d, spec.steps, spec.step_inputs, shares.pop)
        stats.rows_out = result.num_rows
        stats.bytes_shuffled = int(getattr(channel, "bytes_sent", 0) or stats.bytes_sent)
        lap("compute")
        coordinator.barrier("computed")
        lap("wait_computed")

        phase = "write"
        _maybe_fail(rank, phase)
        _require_live_job(client, coordinator)
        part = storage.stage_part(result, spec.output, event.job_id, rank, spec.storage)
        lap("write")
        if rank != 0:
            # Report before the last gather: when rank 0 publishes the manifest,
            # every status is already in Redis for the submitter to read.
            status.update(state="ok", **stats.to_dict())
            coordinator.report_status(status)
        # Only rank 0 reads the parts (to commit); the others publish theirs and are done.
        parts = coordinator.gather_to_root("parts", part)
        if parts is not None:
            lap("wait_written")
            phase = "commit"
            _maybe_fail(rank, phase)
            coordinator.check_fence(spec.output.destination)  # a later submission took it: do not publish
            manifest = storage.commit(spec.output, event.job_id, parts, result.schema, spec.storage,
                                      extra={"world_size": world, "op": spec.op, "channel": spec.channel})
            lap("commit")
            status.update(state="ok", **stats.to_dict())
            coordinator.report_status(status)
            coordinator.publish_manifest(manifest)
        log.info("%s done: %d rows in, %d rows out, %d bytes sent, phases %s", tag, stats.rows_in, stats.rows_out,
                 stats.bytes_sent, {k: round(v, 3) for k, v in stats.phases.items()})
        return status
    except BaseException as err:  # noqa: BLE001 - every failure must reach Redis before we go
        text = "".join(traceback.format_exception(err))
        aborted_by_peer = isinstance(err, JobAbortedError) and getattr(err, "failed_rank", None) != rank
        if (not aborted_by_peer and isinstance(err, ChannelError) and not isinstance(err, WorkerTimeoutError)
                and getattr(err, "peer", None) is not None):
            # A broken link to a peer usually means the peer died; give whoever sees the
            # root cause (the executor watching processes, the peer itself) a moment to
            # abort first, so the job names the right rank.
            budget = coordinator.remaining()
            grace = PEER_FAILURE_GRACE_S if budget is None else min(PEER_FAILURE_GRACE_S, budget - 0.5)
            aborted_by_peer = grace > 0 and _abort_appears(coordinator, grace)
        message = f"rank {rank} failed in {phase}: {type(err).__name__}: {err}"
        status.update(state="error", phase=phase, error=message, traceback=text[-8000:], **stats.to_dict())
        try:
            if not client.exists(coordinator.keys.spec):
                # The coordination state is gone (Redis flushed or restarted, or the job cleaned up):
                # an abort or status now would only re-create orphan keys nobody reads.
                log.warning("%s the job's spec is gone from Redis: not reporting", tag)
            else:
                if not aborted_by_peer:
                    coordinator.abort(f"{message}\n{text[-4000:]}", rank=rank)
                coordinator.report_status(status)
        except Exception as report_err:  # noqa: BLE001 - Redis itself may be what failed
            log.error("%s could not report the failure to Redis: %s", tag, report_err)
        try:
            # A commit that failed past its first move is finished (forward or back) by its journal.
            storage.recover_commit(spec.output.destination, event.job_id, spec.storage)
            storage.discard_staging(spec.output.destination, event.job_id, spec.storage)
            if channel is not None and spec.channel == "s3":
                from airflow_provider_cylon.runtime.channels import purge_objects

                purge_objects(channel.ctx)  # exchange objects of a failed step
        except Exception:  # noqa: BLE001 - best effort; a later commit ignores stale staging
            pass
        (log.info if aborted_by_peer else log.error)("%s %s", tag, message)
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        return status
    finally:
        heartbeat.stop()
        if channel is not None:
            try:
                channel.close()
            except Exception as close_err:  # noqa: BLE001
                log.warning("%s closing the channel failed: %s", tag, close_err)
