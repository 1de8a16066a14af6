"""CylonLambdaLogsLink: CloudWatch log group URL of the worker function."""
from __future__ import annotations

import json

import pytest

from airflow_provider_cylon.links.cloudwatch import CylonLambdaLogsLink, function_short_name, log_group_url
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
