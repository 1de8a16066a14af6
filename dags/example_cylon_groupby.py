"""Example: per-quantity statistics of the day's orders."""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonGroupByOperator, CylonSampleDataOperator

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_groupby",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    # [START howto_operator_cylon_groupby]
    groupby = CylonGroupByOperator(
        task_id="groupby",
        source=f"{ROOT}/orders/{{{{ ds }}}}/",
        by="quantity",
        aggs={"amount": ["sum", "mean", "count", "max"], "customer_id": "nunique"},
        destination=f"{ROOT}/examples/groupby/{{{{ ds }}}}/",
        parallelism=2,
    )
    # [END howto_operator_cylon_groupby]

    sample_data >> groupby
