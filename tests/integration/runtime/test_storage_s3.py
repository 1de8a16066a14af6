"""Storage on an S3 API server (moto): prefix/glob reads, staged commit, manifest."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.spec import InputSpec, OutputSpec, StorageOptions

pytestmark = pytest.mark.integration("s3")


@pytest.fixture()
def opts(s3_server) -> StorageOptions:
    return StorageOptions(endpoint_override=s3_server.endpoint_override, scheme="http", region=s3_server.region)


def test_read_prefix_and_glob_then_commit(s3_server, s3_bucket: str, opts: StorageOptions) -> None:
    fs = s3_server.filesystem()
    for i in range(3):
        with fs.open_output_stream(f"{s3_bucket}/in/p{i}.parquet") as sink:
            pq.write_table(pa.table({"k": list(range(i * 10, i * 10 + 10))}), sink, row_group_size=4)
    for path in (f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/in/", f"s3://{s3_bucket}/in/p*.parquet"):
        shares = [storage.read_rank_share(InputSpec(path=path, name="in0"), r, 2, opts) for r in range(2)]
        assert [k for s in shares for k in s.column("k").to_pylist()] == list(range(30)), path

    out = OutputSpec(destination=f"s3://{s3_bucket}/out")
    for job, lo in (("job-1", 0), ("job-2", 100)):
        parts = [storage.stage_part(pa.table({"k": [lo + r]}), out, job, r, opts) for r in range(2)]
        manifest = storage.commit(out, job, parts, pa.schema([("k", pa.int64())]), opts)
        assert manifest["rows"] == 2
        assert storage.read_output(out.destination, opts).column("k").to_pylist() == [lo, lo + 1]
    keys = sorted(o["Key"] for o in s3_server.boto3_client().list_objects_v2(Bucket=s3_bucket)["Contents"])
    # pyarrow keeps empty "dir/" marker objects; data objects are exactly the new output
    assert [k for k in keys if k.startswith("out/") and not k.endswith("/")] == sorted(
        ["out/_SUCCESS"] + [f"out/{f['path']}" for f in manifest["files"]])
