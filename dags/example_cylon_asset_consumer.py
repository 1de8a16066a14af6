"""Example: a DAG scheduled on the Asset that nightly_etl produces (data-aware scheduling).

Each time nightly_etl's ``sort_by_revenue`` publishes a day's report, Airflow starts
a run of this DAG. An asset-triggered run has no logical date: the day's partition
comes from the triggering event, whose extra the Cylon operator filled in
(destination, job id, rows, bytes, files). The select then reads that report and
writes each known country's revenue beside it.
"""
from __future__ import annotations

import os
import posixpath
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_cylon.operators import CylonSelectOperator

DATA_ROOT = os.environ.get("CYLON_EXAMPLE_DATA_ROOT", "/tmp/cylon-example-data")
# nightly_etl's REVENUE_REPORT (an Asset is its URI, which is also its name: this is the same one).
REVENUE_REPORT = Asset(uri=f"file://{DATA_ROOT}/reports/revenue_per_country")

# [START howto_cylon_asset_consumer]
with DAG(
    dag_id="example_cylon_asset_consumer",
    schedule=[REVENUE_REPORT],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cylon", "example", "assets"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def report_partition(triggering_asset_events: Any = None) -> dict[str, str]:
        """The report partition of the event that triggered this run, and where its summary goes."""
        report = triggering_asset_events[REVENUE_REPORT][-1].extra["destination"]
        day = posixpath.basename(report.rstrip("/"))
        return {"report": report, "summary": f"{DATA_ROOT}/reports/country_summary/{day}/"}

    paths = report_partition()

    # [START howto_operator_cylon_select]
    summary = CylonSelectOperator(
        task_id="country_summary",
        source=paths["report"],
        where="country IS NOT NULL",
        columns={"country": "country", "revenue": "amount_sum", "orders": "amount_count"},
        destination=paths["summary"],
    )
    # [END howto_operator_cylon_select]
# [END howto_cylon_asset_consumer]
