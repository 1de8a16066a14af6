"""How workers are started: local processes (local.py) or AWS Lambda (aws_lambda.py)."""
from __future__ import annotations

from airflow_provider_cylon.client.executors.base import Executor, JobHandle

__all__ = ["Executor", "JobHandle"]
