"""Example: wait for a Cylon job started outside the operators (another system, the CLI, a task).

``submit_external_job`` starts a distributed sort through the hook, as any other
system could, and returns its job id; ``wait_for_job`` waits on that job's Redis
barrier (its manifest) in reschedule mode, or in the triggerer when deferrable.
"""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_cylon.operators import CylonSampleDataOperator
from airflow_provider_cylon.sensors import CylonBarrierSensor

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_barrier_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    @task
    def submit_external_job(data_root: str, ds: str, run_id: str) -> str:
        """Start a 2-worker sort of the day's orders; return its job id (the sensor's input)."""
        from airflow_provider_cylon.hooks import CylonHook
        from airflow_provider_cylon.runtime.event import make_job_id
        from airflow_provider_cylon.runtime.spec import JobSpec

        job_id = make_job_id("example_cylon_barrier_sensor", run_id)
        spec = JobSpec.for_op("sort", [f"{data_root}/orders/{ds}/"], f"{data_root}/examples/sensor/{ds}/",
                              world_size=2, by=["order_id"])
        CylonHook().submit_job(spec, job_id)
        return job_id

    # [START howto_sensor_cylon_barrier]
    wait_for_job = CylonBarrierSensor(
        task_id="wait_for_job",
        job_id="{{ ti.xcom_pull(task_ids='submit_external_job') }}",
        mode="reschedule",
        poke_interval=2,
        timeout=600,
    )
    # [END howto_sensor_cylon_barrier]

    submitted = submit_external_job(data_root=ROOT, ds="{{ ds }}", run_id="{{ run_id }}")
    sample_data >> submitted >> wait_for_job
