"""Example: join, group-by and sort in one fan-out (no intermediate files)."""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonPipelineOperator, CylonSampleDataOperator

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    # [START howto_operator_cylon_pipeline]
    pipeline = CylonPipelineOperator(
        task_id="pipeline",
        inputs={"orders": f"{ROOT}/orders/{{{{ ds }}}}/", "customers": f"{ROOT}/customers/"},
        steps=[
            {"op": "join", "inputs": ["orders", "customers"], "on": "customer_id"},
            {"op": "groupby", "by": "country", "aggs": {"amount": ["sum", "count"]}},
            {"op": "sort", "by": "amount_sum", "ascending": False},
        ],
        destination=f"{ROOT}/examples/pipeline/{{{{ ds }}}}/",
        parallelism=2,
    )
    # [END howto_operator_cylon_pipeline]

    sample_data >> pipeline
