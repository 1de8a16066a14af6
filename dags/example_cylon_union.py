"""Example: UNION of two overlapping customer segments (each customer once)."""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cylon.operators import CylonSampleDataOperator, CylonUnionOperator

ROOT = "{{ params.data_root }}"

with DAG(
    dag_id="example_cylon_union",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    # [START howto_operator_cylon_union]
    union = CylonUnionOperator(
        task_id="union",
        sources=[f"{ROOT}/segments/a/", f"{ROOT}/segments/b/"],
        distinct=True,
        destination=f"{ROOT}/examples/union/{{{{ ds }}}}/",
        parallelism=2,
    )
    # [END howto_operator_cylon_union]

    sample_data >> union
