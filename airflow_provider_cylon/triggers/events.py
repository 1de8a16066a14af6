"""The events CylonBarrierTrigger yields, and how the glue turns them into results or errors.

An event is a JSON dict with ``status`` in ``success | error | timeout`` and the
``job_id``. Events arrive at least once, so handling one is a pure function of
the event: handling it twice gives the same result.
"""
from __future__ import annotations

from typing import Any

from airflow_provider_cylon.exceptions import (
    CylonJobFailedError,
    CylonJobTimeoutError,
    CylonTriggerEventError,
)

STATUSES = ("success", "error", "timeout")


def validate_event(event: Any, job_id: str | None = None) -> dict[str, Any]:
    """Check an event's shape (and that it belongs to ``job_id`` when given).

    :param event: the trigger event payload.
    :param job_id: the job the caller waited for, if known.
    :raises CylonTriggerEventError: missing keys, unknown status, or another job's event.
    """
    if not isinstance(event, dict):
        raise CylonTriggerEventError(event, "expected a dict")
    for key in ("status", "job_id"):
        if key not in event:
            raise CylonTriggerEventError(event, f"missing key {key!r}")
    if event["status"] not in STATUSES:
        raise CylonTriggerEventError(event, f"status must be one of {list(STATUSES)}")
    if job_id is not None and event["job_id"] != job_id:
        raise CylonTriggerEventError(event, f"event is for job_id={event['job_id']}, expected job_id={job_id}")
    return event


def raise_for_event(event: Any, job_id: str | None = None) -> dict[str, Any]:
    """Return a success event; raise the matching error for a failure or timeout.

    :param event: the trigger event payload.
    :param job_id: the job the caller waited for, if known.
    :raises CylonJobFailedError: the job failed; names the failing rank and its error.
    :raises CylonJobTimeoutError: the deadline passed first.
    """
    event = validate_event(event, job_id)
    if event["status"] == "error":
        raise CylonJobFailedError(event["job_id"], event.get("rank"), str(event.get("error") or "unknown error"),
                                  event.get("traceback"))
    if event["status"] == "timeout":
        raise CylonJobTimeoutError(event["job_id"], float(event.get("waited_s") or 0.0), event.get("done"),
                                   event.get("world_size"))
    return event
