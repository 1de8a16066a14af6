"""Extra link from a Cylon task to the CloudWatch log group of its Lambda workers."""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


def function_short_name(function_name: str) -> str:
    """Function name from a name, a partial ARN or a full ARN (``...:function:NAME[:ALIAS]``).

    :param function_name: the configured function name or ARN.
    """
    if ":function:" in function_name:
        return function_name.split(":function:", 1)[1].split(":", 1)[0]
    return function_name.split(":", 1)[0]


def log_group_url(function_name: str, region: str) -> str:
    """CloudWatch console URL of ``/aws/lambda/{function}`` in ``region``.

    :param function_name: function name or ARN.
    :param region: AWS region of the function.
    """
    group = f"/aws/lambda/{function_short_name(function_name)}"
    # The console's fragment encodes '/' as '$252F' (a URL-encoded '%2F').
    encoded = quote(group, safe="").replace("%", "$25")
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logsV2:log-groups/log-group/{encoded}")


class CylonLambdaLogsLink(BaseOperatorLink):
    """"Lambda logs" button: the CloudWatch log group of the function that runs the task's workers.

    Airflow 3 computes links on the worker when the task finishes (and keeps them in
    XCom for the UI); the function and region come from the task's ``cylon``
    connection. Tasks on the local executor get no link (an empty URL).
    """

    name = "Lambda logs (CloudWatch)"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
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
