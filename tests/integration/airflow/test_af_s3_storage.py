"""Operators on s3:// paths through the connection's storage options (moto's S3 server), S3 channel."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.operators import CylonGroupByOperator

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("s3")]


def test_groupby_reads_and_writes_s3_and_shuffles_through_s3(
        s3_server: Any, s3_bucket: str, redis_url: str, context: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers take their keys from the environment (as a Lambda role would), never from the spec.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AIRFLOW_CONN_CYLON_S3", json.dumps({"conn_type": "cylon", "extra": {
        "redis_url": redis_url, "s3_endpoint_url": s3_server.url, "storage_region": s3_server.region}}))
    fs = s3_server.filesystem()
    for i in range(3):
        pq.write_table(pa.table({"g": ["a", "b", None, "a"], "v": [i, 2 * i, 3, None]}),
                       f"{s3_bucket}/in/part-{i}.parquet", filesystem=fs)
    op = CylonGroupByOperator(task_id="gb", source=f"s3://{s3_bucket}/in/", by="g", aggs={"v": ["sum", "count"]},
                              destination=f"s3://{s3_bucket}/out/", cylon_conn_id="cylon_s3", channel="s3",
                              parallelism=3, deferrable=False, poll_interval=0.2,
                              execution_timeout=timedelta(minutes=3))
    spec = op.build_spec()
    assert spec.storage.to_dict() == {"endpoint_override": s3_server.endpoint_override, "scheme": "http",
                                      "region": s3_server.region}
    result = op.execute(context)
    assert result["channel"] == "s3" and result["world_size"] == 3
    from airflow_provider_cylon.runtime.storage import read_output

    got = {r["g"]: (r["v_sum"], r["v_count"]) for r in read_output(f"s3://{s3_bucket}/out/", spec.storage).to_pylist()}
    assert got == {"a": (0 + 1 + 2, 3), "b": (0 + 2 + 4, 3), None: (9, 3)}
