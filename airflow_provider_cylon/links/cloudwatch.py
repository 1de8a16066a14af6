"""Extra link from a Cylon task to the CloudWatch log group of its Lambda workers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
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
    """"Lambda logs" button: the CloudWatch log group of the function that ran the task's workers.

    The URL is computed while the task runs (it knows the function and region) and kept
    in XCom under :attr:`xcom_key`, which is where Airflow 3 reads extra links from.
    """

    name = "Lambda logs (CloudWatch)"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.bases.xcom import BaseXCom

        # Airflow types ti_key as a read-only NamedTuple but get_value as a settable protocol.
        return BaseXCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""  # type: ignore[arg-type]

    @classmethod
    def persist(cls, context: Any, function_name: str, region: str) -> str:
        """Store the link of this task instance (called by the operator for lambda runs).

        :param context: the task context.
        :param function_name: function name or ARN.
        :param region: AWS region of the function.
        """
        url = log_group_url(function_name, region)
        context["ti"].xcom_push(key=cls().xcom_key, value=url)
        return url
