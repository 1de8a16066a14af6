"""Executor: how a job's workers are started (local processes, AWS Lambda, ...).

An executor only starts, watches and stops workers; what they compute lives in
the spec stored in Redis (``cylon:{job}:spec``) and the workers coordinate among
themselves. Every worker gets the same small invocation event (runtime/event.py).

Usage::

    handle = executor.submit(job_id, world_size, redis_url)
    manifest = executor.wait(handle, timeout_s=600).raise_for_failure()
"""
from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_cylon.client.snapshot import JobSnapshot, wait_for_final
from airflow_provider_cylon.runtime.bootstrap import JobCoordinator, connect
from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV, InvocationEvent

log = logging.getLogger(__name__)


@dataclass
class JobHandle:
    """What a submit returns: enough to wait for or cancel the job.

    :param job_id: the job id.
    :param world_size: number of workers started.
    :param redis_url: Redis URL (without a password).
    :param events: the invocation events sent, one per worker.
    :param redis_password_env: environment variable holding the Redis password.
    :param extra: executor-specific, JSON-serialisable data (request ids, pids, ...).
    """

    job_id: str
    world_size: int
    redis_url: str
    events: list[InvocationEvent]
    redis_password_env: str = DEFAULT_PASSWORD_ENV
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "world_size": self.world_size, "redis_url": self.redis_url,
                "events": [e.to_dict() for e in self.events], "redis_password_env": self.redis_password_env,
                "extra": self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobHandle:
        return cls(job_id=data["job_id"], world_size=int(data["world_size"]), redis_url=data["redis_url"],
                   events=[InvocationEvent.from_dict(e) for e in data.get("events", [])],
                   redis_password_env=data.get("redis_password_env") or DEFAULT_PASSWORD_ENV,
                   extra=dict(data.get("extra") or {}))


class Executor(abc.ABC):
    """Starts ``world_size`` workers for a job whose spec is already in Redis."""

    #: short name used in connections / CLI (``local``, ``lambda``).
    name: str = "base"

    @abc.abstractmethod
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
        """Start the workers; returns at once.

        :param job_id: the job id (its spec must already be stored).
        :param world_size: number of workers.
        :param redis_url: Redis URL the workers use (no password in it).
        :param redis_password_env: environment variable that holds the password.
        :param invocation_prefix: stable prefix of invocation ids (idempotent re-submits).
        :param timeout_s: per-worker time limit (the function timeout).
        """

    def check_parallelism(self, world_size: int) -> None:
        """Refuse a world size this executor cannot start, before anything is stored or started.

        :param world_size: workers the job asks for.
        :raises ExecutorError: naming the limit and how to raise it.
        """

    def wait(self, handle: JobHandle, timeout_s: float,
             on_progress: Callable[[JobSnapshot], None] | None = None) -> JobSnapshot:
        """Wait for the job's manifest or abort key in Redis; the final snapshot (still
        ``running`` when the time ran out).

        :param handle: from :meth:`submit`.
        :param timeout_s: how long to wait.
        :param on_progress: called with every snapshot read while waiting.
        """
        coordinator = JobCoordinator(connect(handle.redis_url, password_env=handle.redis_password_env),
                                     handle.job_id)
        try:
            return wait_for_final(coordinator, timeout_s, on_progress=on_progress)
        finally:
            coordinator.client.close()

    def cancel(self, handle: JobHandle, reason: str = "cancelled by the submitter") -> None:
        """Abort the job: sets the abort key so every worker stops within seconds.

        :param handle: from :meth:`submit`.
        :param reason: recorded in the abort key.
        """
        coordinator = JobCoordinator(connect(handle.redis_url, password_env=handle.redis_password_env),
                                     handle.job_id)
        try:
            coordinator.abort(reason, world_size=handle.world_size)
        finally:
            coordinator.client.close()

    def log_tail(self, handle: JobHandle, invocation_id: str, lines: int) -> list[str]:
        """The last ``lines`` lines one worker logged (empty when this executor cannot tell).

        :param handle: the job's handle (as stored at submit).
        :param invocation_id: the worker's invocation.
        :param lines: how many lines at most.
        """
        return []

    def close(self) -> None:
        """Release resources held by the executor (servers, pools)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
