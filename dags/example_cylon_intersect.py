"""Example: INTERSECT of two customer segments (customers in both)."""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonIntersectOperator, CylonSampleDataOperator

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_intersect",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    # [START howto_operator_cylon_intersect]
    intersect = CylonIntersectOperator(
        task_id="intersect",
        sources=[f"{ROOT}/segments/a/", f"{ROOT}/segments/b/"],
        destination=f"{ROOT}/examples/intersect/{{{{ ds }}}}/",
        parallelism=2,
    )
    # [END howto_operator_cylon_intersect]

    sample_data >> intersect
