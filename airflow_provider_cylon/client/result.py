"""The result of a finished job (the operators' XCom) and its log lines, from the final event alone.

Events arrive at least once, so the result is a pure function of the event and
what was recorded at submit: handling an event twice gives the same value.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cylon.client.sizing import projected_cost

#: Per-worker fields kept in the XCom (tracebacks and the rest stay in Redis / the worker logs).
WORKER_FIELDS = ("rank", "state", "rows_in", "rows_out", "bytes_sent", "bytes_received", "phases", "threads",
                 "peak_memory_bytes", "host", "pid", "columns_read", "steps")


def worker_summary(status: Mapping[str, Any]) -> dict[str, Any]:
    """The XCom fields of one worker's status record."""
    return {k: status[k] for k in WORKER_FIELDS if k in status}


def job_result(event: Mapping[str, Any], submit: Mapping[str, Any], *, destination: str,
               output_format: str) -> dict[str, Any]:
    """The XCom of a success event.

    :param event: the final event (status ``success``).
    :param submit: what was recorded at submit (executor, world size, channel, sizing).
    :param destination: the task's destination, when the manifest does not say.
    :param output_format: the task's output format, when the manifest does not say.
    """
    manifest = event.get("manifest") or {}
    workers = [worker_summary(w) for w in event.get("workers") or []]
    result: dict[str, Any] = {
        "job_id": event["job_id"],
        "destination": manifest.get("destination", destination),
        "format": manifest.get("format", output_format),
        "rows": manifest.get("rows"),
        "bytes": manifest.get("bytes"),
        "manifest": manifest,
        "workers": workers,
        "world_size": event.get("world_size"),
        "channel": submit.get("channel"),
        "executor": submit.get("executor"),
        "wall_time_s": event.get("waited_s"),
    }
    if submit.get("executor") == "lambda":
        cost = projected_cost(submit, event.get("workers") or [])
        if cost is not None:
            result["projected_cost"] = cost
    return result


def log_result(log: Any, result: Mapping[str, Any]) -> None:
    """Log a success: one summary line, then one short line per rank (the job id was logged at submit).

    :param log: the task's logger.
    :param result: from :func:`job_result`.
    """
    log.info("succeeded: %s rows, %s bytes in %d files at %s (%.2f s)", result["rows"], result["bytes"],
             len(result["manifest"].get("files", [])), result["destination"], result["wall_time_s"] or 0.0)
    for w in result["workers"]:
        phases = {k: round(float(v), 3) for k, v in (w.get("phases") or {}).items()}
        log.info("rank %s: %s rows in, %s rows out, %s bytes sent, peak memory %s MiB, phases %s", w.get("rank"),
                 w.get("rows_in"), w.get("rows_out"), w.get("bytes_sent"), int(w.get("peak_memory_bytes") or 0) >> 20,
                 phases)


def log_failure(log: Any, event: Mapping[str, Any], worker_log: Sequence[str] = ()) -> None:
    """Log an error event: the failing rank's error, its traceback, then the last lines of its own log.

    :param log: the task's logger.
    :param event: the final event (status ``error``).
    :param worker_log: the failing rank's last log lines (``JobClient.worker_log_tail``).
    """
    rank = event.get("rank")
    log.error("job_id=%s failed on rank %s: %s", event.get("job_id"), rank, event.get("error"))
    if event.get("traceback"):
        log.error("rank %s traceback:\n%s", rank, event["traceback"])
    if worker_log:
        log.error("rank %s log (last %d lines):\n%s", rank, len(worker_log), "\n".join(worker_log))
