"""A whole job on S3 (moto's server): s3:// inputs and output, the s3 channel, endpoint override."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime.spec import JobSpec, StorageOptions

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("s3")]


def test_join_s3_to_s3_over_s3_channel(s3_server, s3_bucket: str, redis_url: str) -> None:
    fs = s3_server.filesystem()
    for i in range(2):
        with fs.open_output_stream(f"{s3_bucket}/left/p{i}.parquet") as sink:
            pq.write_table(pa.table({"k": list(range(i * 50, i * 50 + 50)), "a": [i] * 50}), sink)
    with fs.open_output_stream(f"{s3_bucket}/right.parquet") as sink:
        pq.write_table(pa.table({"k": list(range(0, 100, 3)), "b": list(range(34))}), sink)
    storage_opts = {"endpoint_override": s3_server.endpoint_override, "scheme": "http", "region": s3_server.region}
    spec = JobSpec.for_op("join", [f"s3://{s3_bucket}/left/", f"s3://{s3_bucket}/right.parquet"],
                          f"s3://{s3_bucket}/out", on="k", channel="s3", storage=storage_opts,
                          broadcast_threshold_bytes=0, compression="zstd")
    manifest = run_job(spec, world_size=3, redis_url=redis_url)
    assert manifest["rows"] == 34
    got = storage.read_output(f"s3://{s3_bucket}/out", StorageOptions(**storage_opts))
    assert sorted(got.column("k").to_pylist()) == list(range(0, 100, 3))
    keys = [o["Key"] for o in s3_server.boto3_client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert not [k for k in keys if "_staging" in k and not k.endswith("/")], keys  # no shuffle/staging leftovers
