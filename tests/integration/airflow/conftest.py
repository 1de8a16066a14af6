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
import tempfile
import uuid
from typing import Any

import pytest
from cylon_dag_support import DAGS, RecordingTI

_HOME = tempfile.mkdtemp(prefix="cylon-airflow-it-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("CYLON_STATE_DIR", os.path.join(_HOME, "cylon"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Defer at once, and fire at once: no scheduler runs here, so the race that
# [cylon] defer_hold_s works around cannot happen, and deferral is what is tested.
os.environ.setdefault("AIRFLOW__CYLON__INLINE_WAIT_S", "0")
os.environ.setdefault("AIRFLOW__CYLON__DEFER_HOLD_S", "0")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the session's SQLite metadata database (about 5 s); returns AIRFLOW_HOME."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-3000:]
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture()
def cylon_conn(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``cylon_default`` pointing at the session's real Valkey (local executor); returns the URL."""
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_DEFAULT",
                       json.dumps({"conn_type": "cylon", "extra": {"redis_url": redis_url, "executor": "local"}}))
    return redis_url


@pytest.fixture()
def context() -> dict[str, object]:
    """A minimal task context for calling execute() directly."""
    return {"ti": RecordingTI(), "run_id": f"manual__{uuid.uuid4().hex[:8]}"}


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
