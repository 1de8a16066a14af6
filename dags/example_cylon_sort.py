"""Example: the day's orders sorted by amount (largest first), then order id."""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonSampleDataOperator, CylonSortOperator

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_sort",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    # [START howto_operator_cylon_sort]
    sort = CylonSortOperator(
        task_id="sort",
        source=f"{ROOT}/orders/{{{{ ds }}}}/",
        by=["amount", "order_id"],
        ascending=[False, True],
        destination=f"{ROOT}/examples/sort/{{{{ ds }}}}/",
        parallelism=2,
    )
    # [END howto_operator_cylon_sort]

    sample_data >> sort
