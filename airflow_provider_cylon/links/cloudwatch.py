"""Extra link from a Cylon task to its Lambda workers' CloudWatch logs (a job-scoped Logs Insights query)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

from airflow_provider_cylon.client.executors.aws_lambda import function_short_name, log_group_name

__all__ = ["CylonLambdaLogsLink", "function_short_name", "insights_url", "log_group_url"]

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


def log_group_url(function_name: str, region: str) -> str:
    """CloudWatch console URL of ``/aws/lambda/{function}`` in ``region``.

    :param function_name: function name or ARN.
    :param region: AWS region of the function.
    """
    group = log_group_name(function_name)
    # The console's fragment encodes '/' as '$252F' (a URL-encoded '%2F').
    encoded = quote(group, safe="").replace("%", "$25")
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logsV2:log-groups/log-group/{encoded}")


def _console_string(text: str) -> str:
    """A string value in the console's URL fragment: URI-encoded with ``*`` for ``%`` (``~`` is its separator)."""
    return "'" + quote(text, safe="").replace("~", "%7E").replace("%", "*")


def insights_url(function_name: str, region: str, job_id: str, start: float, end: float) -> str:
    """CloudWatch Logs Insights console URL: the function's log group, lines of one job, between two times.

    Every worker log line starts with ``job_id=…`` (runtime logging), so the query
    finds exactly that job's lines among all the function's invocations.

    :param function_name: function name or ARN.
    :param region: AWS region of the function.
    :param job_id: the job.
    :param start: UNIX time the query starts at.
    :param end: UNIX time it ends at.
    """
    query = (f'fields @timestamp, @logStream, @message\n| filter @message like "job_id={job_id}"\n'
             "| sort @timestamp asc\n| limit 10000")

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    detail = (f"~(end~{_console_string(iso(end))}~start~{_console_string(iso(start))}~timeType~'ABSOLUTE~tz~'UTC"
              f"~editorString~{_console_string(query)}~isLiveTail~false"
              f"~source~(~{_console_string(log_group_name(function_name))}))")
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logsV2:logs-insights$3FqueryDetail$3D{detail}")


class CylonLambdaLogsLink(BaseOperatorLink):
    """"Lambda logs" button: a CloudWatch Logs Insights query on the task's job id.

    The URL is job-scoped (the job's lines only, from a minute before submit to its
    deadline) and persisted at submit (:meth:`persist`), so it works while the task is
    deferred; Airflow 3 stores links in XCom under :attr:`xcom_key`, and
    :meth:`get_link` returns the persisted one when the task ends. Without one (the
    task never submitted) it falls back to the function's log group; tasks on the
    local executor get no link (an empty URL).
    """

    name = "Lambda logs (CloudWatch)"

    def persist(self, context: Any, hook: Any, job_id: str, submit: Mapping[str, Any], timeout_s: float) -> None:
        """Store the job's Insights URL in XCom at submit (Lambda jobs only).

        :param context: the task context.
        :param hook: the task's ``CylonHook``.
        :param job_id: the job.
        :param submit: what execute recorded at submit (executor, function, region, started_at).
        :param timeout_s: the job's time limit (the query's end).
        """
        if submit.get("executor") != "lambda" or not submit.get("function_name") or not submit.get("region"):
            return
        started = float(submit["started_at"])
        url = insights_url(str(submit["function_name"]), str(submit["region"]), job_id, started - 60,
                           started + timeout_s + 300)
        context["ti"].xcom_push(key=self.xcom_key, value=url)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        persisted = None
        try:
            if hasattr(ti_key, "xcom_pull"):  # the task's own instance, when Airflow computes links at the end
                persisted = ti_key.xcom_pull(task_ids=ti_key.task_id, key=self.xcom_key)
        except Exception:  # a link must never fail the task
            persisted = None
        if persisted:
            return str(persisted)
        hook = getattr(operator, "hook", None)
        if hook is None:
            return ""
        try:
            config = hook.config
            if config.executor != "lambda" or not config.function_name:
                return ""
            region = config.lambda_region or hook.get_boto3_session().region_name
        except Exception:  # a link must never fail the task
            return ""
        return log_group_url(config.function_name, region) if region else ""
