"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Declares the ``cylon`` connection form once, declaratively (``conn-fields``,
``ui-field-behaviour``), so Airflow builds the UI form without importing the hook
(``CylonHook`` declares no wtforms widgets of its own).
"""
from __future__ import annotations

from typing import Any

INTEGRATION = "Cylon"
OPERATOR_MODULES = [
    "airflow_provider_cylon.operators.join",
    "airflow_provider_cylon.operators.union",
    "airflow_provider_cylon.operators.intersect",
    "airflow_provider_cylon.operators.difference",
    "airflow_provider_cylon.operators.unique",
    "airflow_provider_cylon.operators.sort",
    "airflow_provider_cylon.operators.groupby",
    "airflow_provider_cylon.operators.pipeline",
    "airflow_provider_cylon.operators.select",
    "airflow_provider_cylon.operators.sample_data",
]


def _string(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


CONN_FIELDS: dict[str, Any] = {
    "executor": _string("Executor", "Where workers run: local processes or AWS Lambda.",
                        enum=["local", "lambda"], default="local"),
    "function_name": _string("Lambda function", "Lambda function name or ARN (lambda executor)."),
    "region_name": _string("Lambda region", "AWS region of the function (taken from the ARN if empty)."),
    "aws_profile": _string("AWS profile", "Named AWS profile used when no keys are given; "
                           "empty keys and profile use boto3's default credential chain."),
    "aws_session_token": _string("AWS session token", "Session token for temporary AWS keys.",
                                 format="password"),
    "redis_url": _string("Redis URL", "redis:// or rediss:// URL reachable by the workers; empty uses an "
                         "embedded Valkey (local executor only).", format="password"),
    "s3_endpoint_url": _string("S3 endpoint URL", "Storage endpoint override (MinIO, LocalStack, ...)."),
    "storage_region": _string("Storage region", "S3 region of the input and output buckets."),
    "parallelism": {"label": "Default parallelism", "description": "Workers per task when the operator "
                    "gives none.", "schema": {"type": ["integer", "null"], "minimum": 1}},
    "channel": _string("Channel", "Shuffle channel between workers.", enum=["redis", "tcp", "s3", "tcp-punch"],
                       default="redis"),
    "local_max_workers": {"label": "Local max workers", "description": "Most workers one task may start with the "
                          "local executor (empty: min(4 x cores, memory / 256 MiB), or $CYLON_LOCAL_MAX_WORKERS).",
                          "schema": {"type": ["integer", "null"], "minimum": 1}},
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "port", "schema"],
    "relabeling": {"login": "AWS access key id", "password": "AWS secret access key"},
    "placeholders": {
        "login": "empty: profile or boto3 default chain",
        "password": "empty: profile or boto3 default chain",
        "executor": "local",
        "redis_url": "rediss://:password@my-redis:6379/0 (empty: embedded Valkey, local only)",
        "function_name": "cylon-worker or arn:aws:lambda:us-east-1:123456789012:function:cylon-worker",
        "channel": "redis",
    },
}

CONFIG: dict[str, Any] = {
    "cylon": {
        "description": "Options of the Cylon provider's deferrable operators and sensor.",
        "options": {
            "inline_wait_s": {
                "description": "Seconds a deferrable Cylon operator waits in its worker slot before deferring; "
                "a job that finishes sooner never defers (no triggerer round trip for small jobs).",
                "version_added": "0.1.0", "type": "float", "example": "0", "default": "5",
            },
            "defer_hold_s": {
                "description": "Seconds after deferring before the trigger may fire. Airflow 3.3 can fail a "
                "deferred task whose trigger fires before the scheduler has processed the executor's event for "
                "the deferring process (apache/airflow#66374, #67287, #72716); holding the event avoids it.",
                "version_added": "0.1.0", "type": "float", "example": "0", "default": "10",
            },
        },
    }
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata (the ``provider.yaml`` equivalent)."""
    from airflow_provider_cylon import __version__

    return {
        "package-name": "airflow-provider-cylon",
        "name": "Cylon",
        "description": "Serverless distributed table operations (join, set operations, sort, group-by) "
        "on a C++ Arrow kernel, fanned out to AWS Lambda or local workers and coordinated through Redis.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://github.com/cylondata/cylon",
                "tags": ["software"],
            }
        ],
        "operators": [{"integration-name": INTEGRATION, "python-modules": OPERATOR_MODULES}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_cylon.sensors.barrier"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_cylon.triggers.barrier"]}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_cylon.hooks.cylon"]}],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_cylon.hooks.cylon.CylonHook",
                "hook-name": "Cylon",
                "connection-type": "cylon",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "extra-links": ["airflow_provider_cylon.links.cloudwatch.CylonLambdaLogsLink"],
        "config": CONFIG,
    }
