"""Fixtures of the Airflow glue's integration tests: an isolated Airflow (SQLite) and the example DAGs.

AIRFLOW_HOME, CYLON_STATE_DIR and the DAGs folder are set before Airflow is
imported; ``airflow_db`` migrates the metadata database once per session, which
``dag.test()`` needs. Connections come from ``AIRFLOW_CONN_*`` variables.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from cylon_airflow_support import context, cylon_conn, isolate_airflow  # noqa: F401  (fixtures)
from cylon_dag_support import DAGS

isolate_airflow("cylon-airflow-it-")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the session's SQLite metadata database (about 5 s); returns AIRFLOW_HOME."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-3000:]
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture()
def function_name(s3_server: Any) -> str:
    """A Lambda function registered on moto's server (its code is never run there)."""
    import io
    import zipfile

    name = f"cylon-worker-{uuid.uuid4().hex[:8]}"
    iam = s3_server.boto3_client("iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    s3_server.boto3_client("lambda").create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.lambda_handler",
        Code={"ZipFile": code.getvalue()}, Timeout=900, MemorySize=2048)
    return name
