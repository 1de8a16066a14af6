"""Typed errors of the distributed runtime.

Every error names what it is about (the field, the job, the rank, the limit) so
a user can act on it. The Airflow glue wraps these in ``AirflowException``
subclasses with ``raise ... from err``.
"""
from __future__ import annotations


class CylonRuntimeError(Exception):
    """Base class of every error raised by the runtime.

    :param message: what went wrong, with the values involved.
    :param job_id: the job the error belongs to, when known.
    :param rank: the worker rank the error belongs to, when known.
    """

    def __init__(self, message: str, *, job_id: str | None = None, rank: int | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.rank = rank


class SpecError(CylonRuntimeError, ValueError):
    """A JobSpec (or one of its fields) is invalid.

    :param field: dotted path of the offending field, e.g. ``steps[0].how``.
    :param message: what was expected and what was found.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"JobSpec field {field!r}: {message}")
        self.field = field


class InvocationEventError(CylonRuntimeError, ValueError):
    """An invocation event (Lambda payload / worker argv) is malformed.

    :param field: the offending event field.
    :param message: what was expected and what was found.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invocation event field {field!r}: {message}")
        self.field = field


class CoordinationError(CylonRuntimeError):
    """Redis coordination failed: missing spec, bad rank, lost keys, ..."""


class CoordinationLostError(CoordinationError):
    """The job's keys vanished from Redis while it ran (a restart without persistence, a flush, eviction)."""


class WorkerTimeoutError(CoordinationError):
    """A wait on peers (barrier, all_gather, shuffle) ran past its limit."""


class JobAbortedError(CoordinationError):
    """Another rank (or the submitter) aborted the job while this one waited.

    :param failed_rank: the rank that set the abort key (``None`` if set by the submitter).
    :param error: the error text stored in the abort key.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        rank: int | None = None,
        failed_rank: int | None = None,
        error: str = "",
    ) -> None:
        super().__init__(message, job_id=job_id, rank=rank)
        self.failed_rank = failed_rank
        self.error = error


class FencedOffError(CoordinationError):
    """A later submission took this job's destination: this (older) fan-out must not commit."""


class JobFailedError(CylonRuntimeError):
    """A job ended without a manifest; carries the failing rank and its error.

    :param failed_rank: the rank that failed first, when known.
    :param error: the failing rank's error text (traceback included when reported).
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        failed_rank: int | None = None,
        error: str = "",
    ) -> None:
        super().__init__(message, job_id=job_id, rank=failed_rank)
        self.failed_rank = failed_rank
        self.error = error


class StorageError(CylonRuntimeError):
    """Reading inputs or committing outputs failed (path, format, permissions)."""


class ChannelError(CylonRuntimeError):
    """A channel transport failed to exchange partitions."""


class ExecutorError(CylonRuntimeError):
    """Starting, watching or cancelling workers failed."""


class LambdaThrottledError(ExecutorError):
    """AWS Lambda answered 429 (throttled) more often than the retry budget allows."""
