"""The distributed worker runtime: runs inside a Lambda or a local process.

It never imports Airflow or the submit side (``client``): the Lambda image ships
without Airflow. Entry point: ``runtime.handler.lambda_handler`` (one worker);
``client.run_job`` runs a whole job on local processes.
"""
from __future__ import annotations

from airflow_provider_cylon.runtime.errors import (
    ChannelError,
    CoordinationError,
    CylonRuntimeError,
    ExecutorError,
    InvocationEventError,
    JobAbortedError,
    JobFailedError,
    LambdaThrottledError,
    SpecError,
    StorageError,
    WorkerTimeoutError,
)
from airflow_provider_cylon.runtime.event import InvocationEvent, build_events, make_job_id

#: Names served on first use (PEP 562): the spec imports the steps, and they the kernel and
#: pyarrow, which ``runtime.worker_process`` must be able to import after hiding numpy.
_LAZY = {"SPEC_VERSION": "spec", "InputSpec": "spec", "JobSpec": "spec", "OutputSpec": "spec", "Step": "ops"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"airflow_provider_cylon.runtime.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "SPEC_VERSION",
    "ChannelError",
    "CoordinationError",
    "CylonRuntimeError",
    "ExecutorError",
    "InputSpec",
    "InvocationEvent",
    "InvocationEventError",
    "JobAbortedError",
    "JobFailedError",
    "JobSpec",
    "LambdaThrottledError",
    "OutputSpec",
    "SpecError",
    "Step",
    "StorageError",
    "WorkerTimeoutError",
    "build_events",
    "make_job_id",
]
