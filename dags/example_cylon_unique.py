"""Example: DISTINCT rows of a folder holding both segments (overlap duplicated)."""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonSampleDataOperator, CylonUniqueOperator

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_unique",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    # [START howto_operator_cylon_unique]
    unique = CylonUniqueOperator(
        task_id="unique",
        source=f"{ROOT}/segments/both/",
        destination=f"{ROOT}/examples/unique/{{{{ ds }}}}/",
        parallelism=2,
    )
    # [END howto_operator_cylon_unique]

    sample_data >> unique
