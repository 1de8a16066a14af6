"""AWS Lambda entry point: ``lambda_handler(event, context)`` runs one worker.

The event is the small invocation event (runtime/event.py); the spec is read
from Redis. The Lambda's remaining time bounds every wait, so a worker that
cannot finish reports an error (and aborts the job) before the platform kills
it. ``python -m airflow_provider_cylon.runtime.handler '<event json>'`` runs the
same handler in a local process (the local executor does this).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from airflow_provider_cylon.runtime.errors import InvocationEventError
from airflow_provider_cylon.runtime.event import InvocationEvent
from airflow_provider_cylon.runtime.secrets import resolve_secret_env
from airflow_provider_cylon.runtime.worker import run_worker

log = logging.getLogger(__name__)

# Cold start: CYLON_*_SECRET references (set by `cylon-airflow deploy`) become
# the values the runtime reads, e.g. CYLON_REDIS_PASSWORD; a no-op without them.
resolve_secret_env()


class LocalContext:
    """A Lambda-like context for local processes: remaining time from a deadline.

    :param timeout_s: the function timeout (``None`` = unbounded), counted from now.
    :param function_name: reported name.
    :param deadline_epoch: absolute deadline (``time.time()`` value) set by the process
        that started this one; wins over ``timeout_s``, so start-up time counts too.
    """

    def __init__(self, timeout_s: float | None = None, function_name: str = "cylon-local-worker",
                 deadline_epoch: float | None = None) -> None:
        if deadline_epoch is not None:
            timeout_s = deadline_epoch - time.time()
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.function_name = function_name
        self.aws_request_id = f"local-{os.getpid()}"

    def get_remaining_time_in_millis(self) -> int:
        if self._deadline is None:
            return 2**31 - 1
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Run one worker for ``event``; returns its status (never a secret).

    :param event: the invocation event (a dict, or its JSON text).
    :param context: the Lambda context (``get_remaining_time_in_millis``), or ``None``.
    :raises InvocationEventError: when the event is malformed (naming the field).
    """
    if isinstance(event, (str, bytes)):
        parsed = InvocationEvent.from_json(event)
    else:
        parsed = InvocationEvent.from_dict(event)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return run_worker(parsed, remaining_ms=remaining)


def main(argv: list[str] | None = None) -> int:
    """Process entry: ``python -m airflow_provider_cylon.runtime.handler EVENT_JSON [TIMEOUT_S|@DEADLINE_EPOCH]``.

    Exit code 0 when the worker ended ok (or had nothing to do), 1 on a job error,
    2 on a malformed event.

    :param argv: arguments (default ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else argv
    # force: a resident warm worker runs main once per job, each with its own level and log file.
    logging.basicConfig(level=os.environ.get("CYLON_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    if not args:
        print("usage: python -m airflow_provider_cylon.runtime.handler EVENT_JSON [TIMEOUT_S]", file=sys.stderr)
        return 2
    context = LocalContext()
    if len(args) > 1:  # "SECONDS" from now, or "@EPOCH": an absolute deadline
        limit = args[1]
        context = LocalContext(deadline_epoch=float(limit[1:])) if limit.startswith("@") else LocalContext(float(limit))
    try:
        status = lambda_handler(args[0], context)
    except InvocationEventError as err:
        print(str(err), file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in status.items() if k != "traceback"}, default=str))
    return 1 if status.get("state") == "error" else 0


if __name__ == "__main__":
    sys.exit(main())
