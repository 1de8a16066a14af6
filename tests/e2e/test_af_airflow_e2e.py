"""End to end: a real Airflow runs nightly_etl; the deferred tasks resume through the real triggerer.

One test triggers the DAG through the REST API (as the UI does) and checks the run,
the deferral, the XCom and the output against DuckDB; one drives the UI in headless
Chromium (Debian's chromium through playwright) to trigger the DAG and sees the run.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CYLON_TASKS = ("join_orders_customers", "revenue_per_country", "sort_by_revenue")


def _logs(server: Any, run_id: str, task_id: str) -> str:
    folder = server.home / "logs" / "dag_id=nightly_etl" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("attempt=1.log*")))


def test_every_run_created_at_start_up_succeeds(airflow_server: Any) -> None:
    """The first `make airflow` is green: the scheduler's start-up run of nightly_etl (@daily) succeeds.

    scripts/airflow.sh starts the scheduler only once the api-server answers; before,
    that run's first task was SIGKILLed after an execution-API read timeout.
    """
    server = airflow_server
    server.wait_for_dag("nightly_etl")
    end = time.monotonic() + 180
    while True:
        runs = server.request("GET", "/api/v2/dags/~/dagRuns")["dag_runs"]
        scheduled = [r for r in runs if r["run_type"] == "scheduled"]
        if scheduled:
            break
        assert time.monotonic() < end, f"no scheduled run after 180 s:\n{server.log_tail()}"
        time.sleep(2)
    for r in scheduled:
        run = server.wait_for_run(r["dag_id"], r["dag_run_id"])
        assert run["state"] == "success", (r["dag_id"], _logs(server, r["dag_run_id"], "join_orders_customers")[-4000:],
                                           server.log_tail())


def test_rest_triggered_run_defers_resumes_and_writes_the_report(airflow_server: Any) -> None:
    import duckdb
    import pyarrow.parquet as pq

    server = airflow_server
    server.wait_for_dag("nightly_etl")
    run_id = "e2e_rest_2026_01_15"
    server.request("POST", "/api/v2/dags/nightly_etl/dagRuns",
                   {"dag_run_id": run_id, "logical_date": "2026-01-15T00:00:00Z"})
    run = server.wait_for_run("nightly_etl", run_id)
    tis = server.request("GET", f"/api/v2/dags/nightly_etl/dagRuns/{run_id}/taskInstances")["task_instances"]
    states = {t["task_id"]: t["state"] for t in tis}
    assert run["state"] == "success", (states, _logs(server, run_id, "join_orders_customers")[-4000:])
    assert set(states.values()) == {"success"}

    for task_id in CYLON_TASKS:  # each task deferred and was resumed by the triggerer's event
        log = _logs(server, run_id, task_id)
        assert "Pausing task as DEFERRED" in log, task_id
        assert "Trigger fired event" in log and "workers done" in log, task_id

    xcom = server.request("GET", f"/api/v2/dags/nightly_etl/dagRuns/{run_id}/taskInstances/"
                                 "sort_by_revenue/xcomEntries/return_value")["value"]
    if isinstance(xcom, str):
        xcom = json.loads(xcom)
    assert xcom["rows"] == 9 and [w["rank"] for w in xcom["workers"]] == [0, 1]
    assert xcom["executor"] == "local" and xcom["wall_time_s"] > 0

    report = Path(xcom["destination"])
    manifest = json.loads((report / "_SUCCESS").read_text())
    got = [row for f in sorted(manifest["files"], key=lambda f: f["rank"])
           for row in pq.read_table(report / f["path"]).select(["country", "amount_sum"]).to_pylist()]
    root = server.data_root
    want = duckdb.sql(
        f"SELECT country, sum(amount) AS amount_sum FROM read_parquet('{root}/orders/2026-01-15/*.parquet') "
        f"JOIN read_parquet('{root}/customers/*.parquet') USING (customer_id) "
        "GROUP BY country ORDER BY amount_sum DESC").fetchall()
    assert [(r["country"], round(r["amount_sum"], 6)) for r in got] == [(c, round(s, 6)) for c, s in want]


def test_ui_trigger_in_headless_chromium_starts_a_run(airflow_server: Any) -> None:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extras)")

    server = airflow_server
    server.wait_for_dag("nightly_etl")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{server.base_url}/dags/nightly_etl", timeout=60_000)
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(server.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/dags/nightly_etl**", timeout=60_000)
            page.locator("button", has_text="Trigger").first.click()
            dialog = page.get_by_role("dialog")
            dialog.wait_for(timeout=30_000)
            with page.expect_response(lambda r: r.url.endswith("/dagRuns") and r.request.method == "POST",
                                      timeout=30_000) as posted:
                dialog.locator("button", has_text="Trigger").last.click()
            assert posted.value.status == 200, posted.value.text()
            run_id = posted.value.json()["dag_run_id"]
            page.goto(f"{server.base_url}/dags/nightly_etl/runs", timeout=60_000)
            page.get_by_text(run_id).first.wait_for(timeout=30_000)
        finally:
            browser.close()
    run = server.request("GET", f"/api/v2/dags/nightly_etl/dagRuns/{run_id}")
    assert run["triggered_by"] == "ui" and run["run_type"] == "manual"
