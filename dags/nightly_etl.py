"""Nightly ETL on Cylon: revenue per country for each day's orders.

For ``{{ ds }}``: join the day's orders with customers on ``customer_id``,
aggregate revenue per country, sort by revenue, and write Parquet. Sample data is
generated first when missing, so the DAG runs out of the box (no connection:
local workers, embedded Valkey, local files under ``params.data_root``).

The report is the Asset ``REVENUE_REPORT``: each successful run emits an event for
it whose extra names the day's destination, and example_cylon_asset_consumer is
scheduled on it.
"""
from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Asset

from airflow_provider_cylon.operators import (
    CylonGroupByOperator,
    CylonJoinOperator,
    CylonSampleDataOperator,
    CylonSortOperator,
)

DATA_ROOT = os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")
ROOT = "{{ params.data_root }}"

# [START howto_cylon_asset_producer]
# The report table (every day's partition): an Asset is known when the DAG is parsed, so its URI
# names the table, and each run's event names the day (extra["destination"]). No separate name: an
# Asset's name is unique, so one fixed name over a data root that can change would clash.
REVENUE_REPORT = Asset(uri=f"file://{DATA_ROOT}/reports/revenue_per_country")
# [END howto_cylon_asset_producer]

# [START howto_cylon_nightly_etl]
with DAG(
    dag_id="nightly_etl",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"data_root": DATA_ROOT},
    tags=["cylon", "example"],
    doc_md=__doc__,
) as dag:
    sample_data = CylonSampleDataOperator(task_id="ensure_sample_data", root=ROOT)

    orders_with_customers = CylonJoinOperator(
        task_id="join_orders_customers",
        left=f"{ROOT}/orders/{{{{ ds }}}}/",
        right=f"{ROOT}/customers/",
        on="customer_id",
        how="inner",
        destination=f"{ROOT}/staging/orders_customers/{{{{ ds }}}}/",
    )

    revenue = CylonGroupByOperator(
        task_id="revenue_per_country",
        source=f"{ROOT}/staging/orders_customers/{{{{ ds }}}}/",
        by="country",
        aggs={"amount": ["sum", "count", "mean"]},
        destination=f"{ROOT}/staging/revenue_per_country/{{{{ ds }}}}/",
    )

    report = CylonSortOperator(
        task_id="sort_by_revenue",
        source=f"{ROOT}/staging/revenue_per_country/{{{{ ds }}}}/",
        by="amount_sum",
        ascending=False,
        destination=f"{ROOT}/reports/revenue_per_country/{{{{ ds }}}}/",
        outlets=[REVENUE_REPORT],
    )

    sample_data >> orders_with_customers >> revenue >> report
# [END howto_cylon_nightly_etl]
