"""Errors raised by the Airflow glue (hook, operators, sensor, trigger).

Each is an ``AirflowException`` so Airflow reports it as a task failure; the
runtime's own errors (``runtime.errors``) are wrapped with ``raise ... from err``.
"""
from __future__ import annotations

from typing import Any

from airflow.exceptions import AirflowException


class CylonProviderError(AirflowException):
    """Base class of every error raised by the Cylon Airflow glue."""


class CylonConnectionError(CylonProviderError):
    """The ``cylon`` connection is invalid or its services cannot be reached."""


class CylonJobFailedError(CylonProviderError):
    """A worker of a Cylon job reported an error (the job's abort key was set).

    :param job_id: the failed job.
    :param rank: rank of the failing worker, or None when unknown (for example ``on_kill``).
    :param error: the failing worker's error message.
    :param traceback: the failing worker's traceback, when it reported one.
    """

    def __init__(self, job_id: str, rank: int | None, error: str, traceback: str | None = None) -> None:
        self.job_id = job_id
        self.rank = rank
        self.error = error
        self.traceback = traceback
        where = f"rank {rank}" if rank is not None else "an unknown rank"
        message = f"Cylon job_id={job_id} failed on {where}: {error}"
        if traceback:
            message += f"\n--- traceback of rank {rank} ---\n{traceback}"
        super().__init__(message)


class CylonJobTimeoutError(CylonProviderError):
    """A Cylon job did not finish before its deadline.

    :param job_id: the job waited on.
    :param waited_s: seconds waited.
    :param done: workers that reported before the deadline.
    :param world_size: workers expected.
    """

    def __init__(self, job_id: str, waited_s: float, done: int | None, world_size: int | None) -> None:
        self.job_id = job_id
        self.waited_s = waited_s
        self.done = done
        self.world_size = world_size
        super().__init__(
            f"Cylon job_id={job_id} did not finish within {waited_s:.0f} s: "
            f"{done if done is not None else '?'} of {world_size if world_size is not None else '?'} "
            f"workers reported under cylon:{job_id}:done"
        )


class CylonTriggerEventError(CylonProviderError):
    """A trigger event is malformed (missing keys or an unknown status).

    :param event: the event payload received.
    :param reason: what is wrong with it.
    """

    def __init__(self, event: Any, reason: str) -> None:
        self.event = event
        super().__init__(f"Invalid Cylon trigger event ({reason}): {event!r}")
