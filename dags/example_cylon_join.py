"""Example: left join of the day's orders with customers on customer_id."""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonJoinOperator, CylonSampleDataOperator

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_join",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    # [START howto_operator_cylon_join]
    join = CylonJoinOperator(
        task_id="join",
        left=f"{ROOT}/orders/{{{{ ds }}}}/",
        right=f"{ROOT}/customers/",
        on="customer_id",
        how="left",
        destination=f"{ROOT}/examples/join/{{{{ ds }}}}/",
        parallelism=2,
    )
    # [END howto_operator_cylon_join]

    sample_data >> join
