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
from airflow_provider_cylon.runtime.spec import SPEC_VERSION, InputSpec, JobSpec, OutputSpec, StepSpec

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
    "StepSpec",
    "StorageError",
    "WorkerTimeoutError",
    "build_events",
    "make_job_id",
]
