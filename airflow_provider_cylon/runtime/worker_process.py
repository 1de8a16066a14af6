"""A local worker process: ``python -m airflow_provider_cylon.runtime.worker_process EVENT_JSON [@DEADLINE]``.

The local executor starts one per rank. It runs the handler's ``main`` (same
arguments, same exit codes) in a process set up like a Lambda execution
environment, for a cold start that costs what the Lambda's does:

* optional extras that pyarrow and redis-py probe for are unavailable, as they are
  in the Lambda image, before anything imports them (:class:`WithoutOptionalExtras`);
* the process leaves with ``os._exit`` once the result is reported, skipping
  interpreter teardown (:func:`exit_now`).
"""
from __future__ import annotations

import importlib.abc
import logging
import os
import sys
from typing import Any


class WithoutOptionalExtras(importlib.abc.MetaPathFinder):
    """Makes the optional extras pyarrow and redis-py probe for unavailable, as in the Lambda image.

    A worker never converts to numpy or pandas nor exports OpenTelemetry metrics, but
    where they are installed (wherever Airflow is) pyarrow imports numpy at import
    (0.07 s) and pandas on its first conversion of Python objects (0.25-0.4 s), and
    redis-py imports the OpenTelemetry SDK at import (0.07 s). The Lambda image has
    none of them, and the Lambda-image test proves the runtime needs none. (A ``None``
    in ``sys.modules`` is not enough: pyarrow's Cython import returns it.)
    """

    blocked = ("numpy", "pandas", "opentelemetry")

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".", 1)[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not used by Cylon workers)", name=fullname)
        return None


def exit_now(code: int) -> None:
    """Flush and leave without interpreter teardown.

    The result is published and reported by now; freeing gigabytes of Arrow buffers
    and finalising every module only delays the executor that waits for the exit
    (0.1-0.3 s per worker on a 10M-row join).
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run one worker like ``python -m airflow_provider_cylon.runtime.handler`` does."""
    if not any(name in sys.modules for name in WithoutOptionalExtras.blocked):
        sys.meta_path.insert(0, WithoutOptionalExtras())
    from airflow_provider_cylon.runtime.handler import main as handler_main

    return handler_main(argv)


if __name__ == "__main__":
    exit_now(main())
