"""Run a whole job on local processes from Python: ``run_job(spec) -> manifest``.

For scripts, tests and the CLI. Stores the spec in Redis (an embedded Valkey when
no URL is given), starts ``world_size`` worker processes through the local
executor, waits for the manifest or the abort key, deletes the job's keys, and
returns the manifest (plus the per-worker statuses under ``"workers"``) or raises
:class:`~airflow_provider_cylon.runtime.errors.JobFailedError` naming the
failing rank.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_cylon.client.embedded_valkey import embedded_valkey
from airflow_provider_cylon.client.job_client import JobClient
from airflow_provider_cylon.runtime.event import split_redis_password, validate_job_id
from airflow_provider_cylon.runtime.spec import JobSpec

log = logging.getLogger(__name__)

#: Seconds a waiter allows beyond the spec's timeout (process start-up, commit).
WAIT_SLACK_S = 30.0


@contextmanager
def redis_for_job(redis_url: str | None) -> Iterator[str]:
    """Yield ``redis_url``, or the URL of an embedded server started for the job.

    :param redis_url: a configured server, or ``None``.
    """
    if redis_url:
        yield redis_url
        return
    with embedded_valkey() as url:
        yield url


def run_job(
    spec: JobSpec,
    world_size: int | None = None,
    redis_url: str | None = None,
    *,
    job_id: str | None = None,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    cleanup: bool = True,
    executor: Any = None,
) -> dict[str, Any]:
    """Run ``spec`` with ``world_size`` local worker processes and return the manifest.

    :param spec: the job.
    :param world_size: overrides ``spec.world_size``.
    :param redis_url: Redis to coordinate through (a password in it is passed to the
        workers via their environment, never in the event); ``None`` starts an
        embedded Valkey for this job.
    :param job_id: the job id (random when ``None``).
    :param timeout_s: overrides ``spec.timeout_s``.
    :param memory_mb: per-worker address-space limit.
    :param cleanup: delete the job's Redis keys and its workers' log directory at the end (success,
        failure, timeout; a failing rank's log tail is logged first); False keeps both for inspection.
    :param executor: an :class:`~airflow_provider_cylon.client.executors.base.Executor` to use
        instead of a fresh local one.
    :raises JobFailedError: naming the failing rank and its error.
    :raises WorkerTimeoutError: when the job did not end in time.
    """
    from airflow_provider_cylon.client.executors.local import LocalExecutor

    if world_size is not None:
        spec = spec.with_(world_size=world_size)
    if timeout_s is not None:
        spec = spec.with_(timeout_s=float(timeout_s))
    job_id = validate_job_id(job_id or f"job-{uuid.uuid4().hex[:16]}")
    with redis_for_job(redis_url) as url:
        _, password = split_redis_password(url)
        own_executor = executor is None
        if own_executor:
            executor = LocalExecutor(function_timeout_s=spec.timeout_s + WAIT_SLACK_S / 2, memory_mb=memory_mb,
                                     redis_password=password)
        jobs = JobClient(url, executor, origin=None if redis_url else "an embedded Valkey started for this job")
        log.info("job_id=%s: %s on %d workers, channel %s", job_id, spec.op, spec.world_size, spec.channel)
        try:
            snap = jobs.wait(jobs.submit(spec, job_id), spec.timeout_s + WAIT_SLACK_S)
            if not snap.is_successful and snap.failed_rank is not None:
                # Read before cleanup deletes the handle, the claims and the log directory.
                tail = jobs.worker_log_tail(job_id, snap.failed_rank)
                if tail:
                    log.error("job_id=%s rank %s log (last %d lines):\n%s", job_id, snap.failed_rank, len(tail),
                              "\n".join(tail))
        finally:
            jobs.close(executor=own_executor)  # first: an interrupted wait leaves no worker writing
            if cleanup:  # every path: success, failure, timeout, an interrupt
                try:
                    jobs.cleanup(job_id)
                except Exception as err:  # e.g. Redis unreachable: the original error is what matters
                    log.warning("job_id=%s could not delete its keys and logs: %s", job_id, err)
                finally:
                    jobs.close(executor=False)
    manifest = snap.raise_for_failure()
    workers = [snap.statuses[r] for r in sorted(snap.statuses)]
    log.info("job_id=%s published %d rows in %d files to %s", job_id, manifest.get("rows", 0),
             len(manifest.get("files", [])), manifest.get("destination"))
    return {**manifest, "workers": workers}
