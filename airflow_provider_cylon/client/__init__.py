"""The submit side of a Cylon job, without Airflow: executors, run_job, JobClient, snapshots, cost model.

Layers: glue (hooks, operators, sensors, triggers, links) -> client -> runtime ->
kernel (an import-linter contract in ``.importlinter`` checks it).
"""
from __future__ import annotations

from airflow_provider_cylon.client.job_client import JobClient
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.client.snapshot import JobSnapshot
from airflow_provider_cylon.client.watch import JobWatch

__all__ = ["JobClient", "JobSnapshot", "JobWatch", "run_job"]
