"""The distributed worker runtime: runs inside a Lambda or a local process.

It never imports Airflow (the Lambda image ships without it). Entry points:
``runtime.handler.lambda_handler`` (one worker), ``runtime.local.run_job``
(a whole job on local processes).
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
from airflow_provider_cylon.runtime.ops import Step
from airflow_provider_cylon.runtime.spec import SPEC_VERSION, InputSpec, JobSpec, OutputSpec

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
