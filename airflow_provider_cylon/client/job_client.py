"""JobClient: the submit side of a Cylon job (submit, wait, snapshot, cancel, cleanup), without Airflow.

The hook builds one per connection; ``run_job``, the CLI and the benchmarks build
their own. Every read of a job is a :class:`~airflow_provider_cylon.client.snapshot.JobSnapshot`
and every wait ends in the one event :meth:`JobWatch.event` builds, so the
operator, the sensor and the trigger report a job the same way.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_cylon.client.executors.base import Executor, JobHandle
from airflow_provider_cylon.client.redis_check import ping_or_raise, unreachable
from airflow_provider_cylon.client.snapshot import JobSnapshot, a_read_job_state, read_job_state
from airflow_provider_cylon.runtime.errors import ExecutorError
from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV, split_redis_password
from airflow_provider_cylon.runtime.protocol import ABORT_LUA, FENCE_TTL_S, JobKeys, abort_args, destination_fence_key

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from airflow_provider_cylon.client.watch import JobWatch
    from airflow_provider_cylon.runtime.spec import JobSpec

log = logging.getLogger(__name__)

#: Longest single BLPOP (below the Redis clients' 30 s socket timeout).
MAX_BLOCK_S = 10.0
#: Consecutive Redis errors an async wait tolerates before it ends in an error event.
MAX_REDIS_ERRORS = 5
#: Lines of a failed rank's own log shown with the job's error.
LOG_TAIL_LINES = 30
#: After a job ended, how long its cleanup waits for ranks still reporting (a live rank stops within
#: a poll of the abort, 0.5-1 s; one killed without reporting never does, and costs the whole wait).
QUIET_S = 3.0


class JobClient:
    """Submit, watch, cancel and clean up jobs through one Redis and one executor.

    :param redis_url: the submitter's Redis URL; a password in it never reaches a worker's
        event (local workers get it through their environment, Lambda from the function's).
    :param executor: the executor that starts workers, or a factory called on first submit.
    :param origin: where ``redis_url`` came from (``connection 'cylon_default' (extra redis_url)``,
        ``the embedded Valkey ...``): named, with what to check, when Redis does not answer.
    """

    def __init__(self, redis_url: str, executor: Executor | Callable[[], Executor] | None = None, *,
                 origin: str | None = None) -> None:
        self.redis_url = redis_url
        self._executor = executor
        self.origin = origin
        self._sync: redis.Redis | None = None

    # ---- clients -------------------------------------------------------------------------

    @property
    def executor(self) -> Executor:
        """The executor (created by the factory on first use)."""
        if self._executor is None:
            raise ExecutorError("this JobClient was built without an executor: it can watch jobs, not start them")
        if not isinstance(self._executor, Executor):
            self._executor = self._executor()
        return self._executor

    @property
    def redis(self) -> redis.Redis:
        """Synchronous redis-py client (decoded strings; cached).

        :raises RedisUnreachableError: on first use, when the server does not answer PING (the
            error names the URL, password masked, and what to check).
        """
        if self._sync is None:
            import redis

            client = redis.Redis.from_url(self.redis_url, decode_responses=True, socket_timeout=30,
                                          socket_connect_timeout=10)
            # One PING where the client first connects: a refused or misconfigured server is
            # reported once, with the URL and what to check, instead of as redis-py's raw error
            # from whichever command came first.
            ping_or_raise(client, self.redis_url, self.origin)
            self._sync = client
        return self._sync

    def a_redis(self) -> redis.asyncio.Redis:
        """A new ``redis.asyncio`` client; the caller closes it (``await client.aclose()``)."""
        import redis.asyncio

        return redis.asyncio.Redis.from_url(self.redis_url, decode_responses=True, socket_timeout=30)

    def close(self, executor: bool = True) -> None:
        """Close the Redis client and, unless told not to, the executor (killing local workers it still tracks).

        :param executor: also close the executor (False: the caller owns it).
        """
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        if executor and isinstance(self._executor, Executor):
            self._executor.close()

    # ---- submit --------------------------------------------------------------------------

    def next_fence(self, destination: str) -> int:
        """A new fencing token for ``destination`` (INCR): from now on only the job holding it may commit there.

        :param destination: the spec's output destination.
        """
        key = destination_fence_key(destination)
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, FENCE_TTL_S)
        return int(pipe.execute()[0])

    def submit(self, spec: JobSpec, job_id: str, *, invocation_prefix: str = "w", fence: int | None = None
               ) -> JobHandle:
        """Store the spec in Redis and start the workers; returns at once.

        :param spec: the validated JobSpec.
        :param job_id: the job id (``runtime.event.make_job_id`` builds one).
        :param invocation_prefix: prefix of the invocation ids (stable per job: idempotent re-submits).
        :param fence: this submission's fencing token (:meth:`next_fence`); rank 0 commits only while it is
            the destination's latest. None: no fencing.
        :raises ExecutorError: when the workers cannot be started (the job is aborted first).
        """
        public_url, _ = split_redis_password(self.redis_url)
        self.executor.check_parallelism(spec.world_size)  # before the spec is stored: nothing to undo
        if fence is not None:
            self.redis.set(JobKeys(job_id).fence, str(fence), ex=spec.key_ttl_s)
        self.redis.set(JobKeys(job_id).spec, spec.to_json(), ex=spec.key_ttl_s)
        try:
            handle = self.executor.submit(job_id, spec.world_size, public_url,
                                          redis_password_env=DEFAULT_PASSWORD_ENV,
                                          invocation_prefix=invocation_prefix, timeout_s=spec.timeout_s)
        except Exception as err:
            self.cancel(job_id, f"submit failed: {type(err).__name__}: {err}", world_size=spec.world_size)
            raise ExecutorError(f"job_id={job_id}: starting {spec.world_size} workers with the "
                                f"{self.executor.name} executor failed: {err}") from err
        # Any later process (a resumed task, a retry) finds the workers and their logs through it.
        self.redis.set(JobKeys(job_id).handle, json.dumps(handle.to_dict()), ex=spec.key_ttl_s)
        return handle

    def status(self, job_id: str, spec: JobSpec) -> str:
        """``success``, ``failed``, ``running`` (heartbeats fresh) or ``missing`` (keys gone, nothing published).

        A job whose spec is stored but whose handle is not counts as ``failed``: its submit never
        finished starting the workers (asked from a retry, no submit is still under way).

        A job whose keys were cleaned up after success still counts as ``success`` when the
        destination's ``_SUCCESS`` manifest names it.

        :param job_id: the job.
        :param spec: its spec (destination and storage options).
        """
        keys = JobKeys(job_id)
        has_spec, has_handle = self.redis.exists(keys.spec), self.redis.exists(keys.handle)
        if has_spec:
            state = self.snapshot(job_id).state
            # No handle: the submitter died while starting the workers (status is asked by a later
            # process), so some ranks may never start; the job can only end by its timeout.
            return "failed" if state == "running" and not has_handle else state
        from airflow_provider_cylon.runtime import storage

        manifest = storage.read_manifest(spec.output.destination, spec.storage)
        return "success" if manifest is not None and manifest.get("job_id") == job_id else "missing"

    def stored_handle(self, job_id: str) -> JobHandle | None:
        """The handle stored at submit (None: unknown job, or cleaned up)."""
    
        raw = self.redis.get(JobKeys(job_id).handle)
        return None if raw is None else JobHandle.from_dict(json.loads(raw))

    def worker_log_tail(self, job_id: str, rank: int, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last lines rank ``rank`` logged: its local log file, or its CloudWatch Logs by request id.

        :param job_id: the job (its handle and claims must still be in Redis: a failed job keeps them).
        :param rank: the rank.
        :param lines: how many lines at most.
        """
        handle = self.stored_handle(job_id)
        if handle is None:
            return []
        keys = JobKeys(job_id)
        invocations = [e.invocation_id for e in handle.events]
        claimed = self.redis.mget([keys.claim(i) for i in invocations]) if invocations else []
        for invocation, value in zip(invocations, claimed):
            if value is not None and int(value) == rank:
                return self.executor.log_tail(handle, invocation, lines)
        return []

    # ---- read and wait -------------------------------------------------------------------

    def snapshot(self, job_id: str, barrier: str | None = None, with_statuses: bool = False) -> JobSnapshot:
        """One read of the job's keys.

        :param job_id: the job.
        :param barrier: a named barrier whose arrivals to count.
        :param with_statuses: also read the per-rank status records.
        """
        return read_job_state(self.redis, job_id, barrier, with_statuses)

    async def a_snapshot(self, job_id: str, barrier: str | None = None, with_statuses: bool = False,
                         client: redis.asyncio.Redis | None = None) -> JobSnapshot:
        """Async twin of :meth:`snapshot` (``client``: an open ``redis.asyncio`` client to reuse)."""
        own = client is None
        client = client or self.a_redis()
        try:
            return await a_read_job_state(client, job_id, barrier, with_statuses)
        finally:
            if own:
                await client.aclose()

    def wait(self, handle: JobHandle, timeout_s: float,
             on_progress: Callable[[JobSnapshot], Any] | None = None) -> JobSnapshot:
        """Wait for a job this client submitted, through its executor (which also watches its workers).

        :param handle: from :meth:`submit`.
        :param timeout_s: how long to wait; the snapshot is still ``running`` when it ran out.
        :param on_progress: called with every snapshot read (``JobWatch.observe`` logs progress).
        """
        return self.executor.wait(handle, timeout_s, on_progress=on_progress)

    def wait_event(self, watch: JobWatch, until: float, poll_interval: float) -> dict[str, Any] | None:
        """Watch any job by its keys until ``until`` (UNIX time); its final event, or None if still running.

        :param watch: the job's watch (its deadline ends the wait with a timeout event).
        :param until: when to give up without an event.
        :param poll_interval: longest pause between two reads (workers wake it earlier).
        """
        while True:
            snap = self.snapshot(watch.job_id, watch.barrier)
            verdict = watch.observe(snap)
            if verdict is not None:
                final = snap if verdict == "timeout" else self.snapshot(watch.job_id, watch.barrier, True)
                return watch.event(verdict, final)
            left = until - time.time()
            if left <= 0:
                return None
            pause = min(left, watch.pause(poll_interval), MAX_BLOCK_S)
            self.redis.blpop([JobKeys(watch.job_id).wake_final], timeout=max(0.01, pause))

    async def a_wait_event(self, watch: JobWatch, poll_interval: float) -> dict[str, Any]:
        """Async wait on a job's keys until the watch's verdict; its final event (never raises for Redis).

        Redis errors are retried with backoff; after :data:`MAX_REDIS_ERRORS` in a row
        the event is an error naming the last one.

        :param watch: the job's watch.
        :param poll_interval: longest pause between two reads (workers wake it earlier).
        """
        import redis.exceptions

        try:
            client = self.a_redis()
        except Exception as err:  # a bad URL: report, do not hang
            return watch.event("error", rank=None, error=str(unreachable(self.redis_url, err, self.origin)))
        errors = 0
        try:
            while True:
                try:
                    snap = await self.a_snapshot(watch.job_id, watch.barrier, client=client)
                    verdict = watch.observe(snap)
                    if verdict is not None:
                        final = snap if verdict == "timeout" else await self.a_snapshot(
                            watch.job_id, watch.barrier, True, client=client)
                        return watch.event(verdict, final)
                    pause = watch.pause(poll_interval)
                    if pause > 0:
                        # Workers push wake:final on every report, the manifest and abort.
                        await client.blpop([JobKeys(watch.job_id).wake_final], timeout=min(pause, MAX_BLOCK_S))
                    errors = 0
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
                    errors += 1
                    log.warning("job_id=%s Redis read failed (%d/%d): %s", watch.job_id, errors, MAX_REDIS_ERRORS,
                                err)
                    if errors >= MAX_REDIS_ERRORS:
                        return watch.event("error", rank=None,
                                           error=str(unreachable(self.redis_url, err, self.origin)))
                    await asyncio.sleep(min(poll_interval * 2 ** errors, 30.0))
        finally:
            await client.aclose()

    # ---- cancel and clean up -------------------------------------------------------------

    def cancel(self, job_id: str, reason: str, *, world_size: int | None = None,
               handle: JobHandle | None = None) -> bool:
        """Abort the job: its abort key stops every worker within seconds; local workers are also stopped.

        :param job_id: the job.
        :param reason: recorded in the abort key.
        :param world_size: workers to wake (read from the stored spec when None).
        :param handle: the submit's handle, when this process started the workers.
        :returns: whether this call set the abort key (False: it was already set).
        """
        size = world_size if world_size is not None else (handle.world_size if handle else None)
        if size is None:
            size = self.snapshot(job_id).world_size or 0
        keys, args = abort_args(job_id, reason, rank=None, world_size=size)
        first = bool(self.redis.register_script(ABORT_LUA)(keys=keys, args=args))
        if handle is not None and isinstance(self._executor, Executor):
            self.executor.cancel(handle, reason)  # stops what this process started (local workers)
        log.warning("job_id=%s cancelled: %s", job_id, reason)
        return first

    async def a_cancel(self, job_id: str, reason: str, *, world_size: int | None = None) -> bool:
        """Async twin of :meth:`cancel` (the abort key only: a triggerer starts no workers)."""
        client = self.a_redis()
        try:
            size = world_size if world_size is not None else (
                (await a_read_job_state(client, job_id)).world_size or 0)
            keys, args = abort_args(job_id, reason, rank=None, world_size=size)
            return bool(await client.register_script(ABORT_LUA)(keys=keys, args=args))
        finally:
            await client.aclose()

    def cleanup(self, job_id: str) -> int:
        """Delete every key of the job, and a local job's log directory (idempotent); how many keys went.

        Call it once the outcome (and a failure's log tail: :meth:`worker_log_tail` reads the
        handle and claims) has been read; :meth:`finish` also stops what still runs first.
        """
        from airflow_provider_cylon.client.executors.local import discard_logs
        from airflow_provider_cylon.runtime.bootstrap import JobCoordinator

        try:
            handle = self.stored_handle(job_id)
        except (ValueError, KeyError, TypeError):  # a handle written by hand or a newer version: keys only
            handle = None
        spec = self._stored_spec(job_id)
        deleted = JobCoordinator(self.redis, job_id).cleanup()
        if handle is not None:
            discard_logs(handle)
        if spec is not None:
            self._recover_commit(job_id, spec)
        return deleted

    def _stored_spec(self, job_id: str) -> JobSpec | None:
        from airflow_provider_cylon.runtime.spec import JobSpec

        raw = self.redis.get(JobKeys(job_id).spec)
        try:
            return None if raw is None else JobSpec.from_json(raw)
        except Exception:  # noqa: BLE001 - a spec this version cannot read: nothing to recover from it
            return None

    @staticmethod
    def _recover_commit(job_id: str, spec: JobSpec) -> None:
        """A rank 0 killed mid-commit leaves a journal: finish it (forward or back), so the destination
        holds one complete output, not orphan parts that the next run would take for foreign files."""
        from airflow_provider_cylon.runtime import storage

        try:
            storage.recover_commit(spec.output.destination, job_id, spec.storage)
        except Exception as err:  # noqa: BLE001 - the next commit there recovers it as well
            log.warning("job_id=%s could not check %s for an interrupted commit: %s", job_id,
                        spec.output.destination, err)

    def wait_quiet(self, job_id: str, timeout_s: float = QUIET_S) -> bool:
        """Wait until every rank still in the heartbeat set has reported; whether that happened in time.

        A live rank stops within a poll of the abort and reports before it leaves the set; keys
        deleted before its report would be re-created by it (a rank that finds the spec gone
        writes nothing, so this wait only narrows that window). A rank killed without reporting
        keeps its stale entry: the wait then ends at ``timeout_s``.

        :param job_id: the job.
        :param timeout_s: how long at most.
        """
        keys = JobKeys(job_id)
        end = time.monotonic() + timeout_s
        while True:
            attached = set(self.redis.zrange(keys.heartbeats, 0, -1))
            if not attached or attached <= set(self.redis.smembers(keys.done)):
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)

    def finish(self, job_id: str, reason: str, *, handle: JobHandle | None = None,
               quiet_s: float = QUIET_S) -> int:
        """End of every terminal path, once the outcome and a failure's log tail were read.

        A job still running (the wait timed out, the task was killed) is cancelled with
        ``reason`` first (local workers this process started are stopped); then, once its
        ranks went quiet (at most ``quiet_s``), every key and the local logs are deleted.

        :param job_id: the job.
        :param reason: the abort's text when it still runs (``timed out after 600 s``).
        :param handle: the submit's handle, when this process started the workers.
        :param quiet_s: how long to wait for ranks still reporting.
        :returns: how many keys were deleted.
        """
        snap = self.snapshot(job_id)
        if snap.spec_found and not snap.is_terminal:
            self.cancel(job_id, reason, world_size=snap.world_size, handle=handle)
        if snap.spec_found:
            self.wait_quiet(job_id, quiet_s)
        return self.cleanup(job_id)

    async def a_finish(self, job_id: str, reason: str, *, world_size: int | None = None,
                       quiet_s: float = QUIET_S) -> int:
        """Async twin of :meth:`finish` (a triggerer: the abort key only, it starts and kills no process)."""
        from airflow_provider_cylon.client.executors.local import discard_logs

        client = self.a_redis()
        try:
            snap = await a_read_job_state(client, job_id)
            if snap.spec_found and not snap.is_terminal:
                keys, args = abort_args(job_id, reason, rank=None, world_size=world_size or snap.world_size or 0)
                await client.register_script(ABORT_LUA)(keys=keys, args=args)
                log.warning("job_id=%s cancelled: %s", job_id, reason)
            end = time.monotonic() + (quiet_s if snap.spec_found else 0.0)
            while time.monotonic() < end:  # as wait_quiet
                attached = set(await client.zrange(JobKeys(job_id).heartbeats, 0, -1))
                if not attached or attached <= set(await client.smembers(JobKeys(job_id).done)):
                    break
                await asyncio.sleep(0.05)
            raw = await client.get(JobKeys(job_id).handle)
            raw_spec = await client.get(JobKeys(job_id).spec)
            found = [k async for k in client.scan_iter(match=f"{JobKeys(job_id).prefix}*", count=500)]
            deleted = 0
            for i in range(0, len(found), 500):
                deleted += int(await client.unlink(*found[i:i + 500]))
        finally:
            await client.aclose()
        try:
            handle = None if raw is None else JobHandle.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            handle = None
        if handle is not None:  # a triggerer on the machine of local workers removes their logs too
            await asyncio.to_thread(discard_logs, handle)
        if raw_spec is not None:
            from airflow_provider_cylon.runtime.spec import JobSpec

            try:
                spec = JobSpec.from_json(raw_spec)
            except Exception:  # noqa: BLE001 - nothing to recover from a spec this version cannot read
                spec = None
            if spec is not None:
                await asyncio.to_thread(self._recover_commit, job_id, spec)
        return deleted
