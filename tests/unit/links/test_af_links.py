"""CylonLambdaLogsLink: CloudWatch log group URL of the worker function."""
from __future__ import annotations

import json

import pytest

from airflow_provider_cylon.links.cloudwatch import CylonLambdaLogsLink, function_short_name, insights_url, log_group_url
from airflow_provider_cylon.operators import CylonSortOperator


@pytest.mark.parametrize("name", ["cylon-worker", "arn:aws:lambda:eu-west-1:123456789012:function:cylon-worker",
                                  "arn:aws:lambda:eu-west-1:123456789012:function:cylon-worker:live",
                                  "123456789012:function:cylon-worker"])
def test_function_names_and_arns_give_the_same_log_group(name: str) -> None:
    assert function_short_name(name) == "cylon-worker"
    assert log_group_url(name, "eu-west-1") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Flambda$252Fcylon-worker")


def test_link_follows_the_tasks_connection(cylon_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    local = CylonSortOperator(task_id="s", source="a/", by="x", destination="o/")
    assert CylonLambdaLogsLink().get_link(local, ti_key=None) == ""  # type: ignore[arg-type]
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_AWS", json.dumps({"conn_type": "cylon", "extra": {
        "executor": "lambda", "function_name": "arn:aws:lambda:ap-south-1:1:function:w", "redis_url": cylon_conn}}))
    remote = CylonSortOperator(task_id="s", source="a/", by="x", destination="o/", cylon_conn_id="cylon_aws")
    assert CylonLambdaLogsLink().get_link(remote, ti_key=None) == log_group_url("w", "ap-south-1")  # type: ignore[arg-type]
    assert CylonLambdaLogsLink() in remote.operator_extra_links


def test_insights_url_is_scoped_to_the_job_and_its_window() -> None:
    url = insights_url("arn:aws:lambda:eu-west-1:1:function:cylon-worker", "eu-west-1", "d-t-r-try1-ab12",
                       start=1764620000, end=1764623600)
    assert url.startswith("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
                          "#logsV2:logs-insights$3FqueryDetail$3D~(")
    assert "job_id*3Dd-t-r-try1-ab12" in url  # filter @message like "job_id=<job>"
    assert "~source~(~'*2Faws*2Flambda*2Fcylon-worker))" in url
    assert "start~'2025-12-01T20*3A13*3A20.000Z" in url and "end~'2025-12-01T21*3A13*3A20.000Z" in url


def test_link_is_persisted_at_submit_and_returned_at_the_end(cylon_conn: str) -> None:
    from cylon_airflow_support import RecordingTI

    op = CylonSortOperator(task_id="s", source="a/", by="x", destination="o/")
    ti = RecordingTI(task_id="s")
    link = CylonLambdaLogsLink()
    submit = {"executor": "lambda", "function_name": "w", "region": "ap-south-1", "started_at": 1764620000.0}
    link.persist({"ti": ti}, op.hook, "job-1", submit, timeout_s=600)
    assert ti.xcoms[link.xcom_key] == insights_url("w", "ap-south-1", "job-1", 1764620000.0 - 60,
                                                   1764620000.0 + 600 + 300)
    assert link.get_link(op, ti_key=ti) == ti.xcoms[link.xcom_key]  # type: ignore[arg-type]
    local = RecordingTI(task_id="s")
    link.persist({"ti": local}, op.hook, "job-2", {**submit, "executor": "local"}, timeout_s=600)
    assert local.xcoms == {} and link.get_link(op, ti_key=local) == ""  # type: ignore[arg-type]
