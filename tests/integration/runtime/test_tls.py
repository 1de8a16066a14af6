"""rediss:// end to end: a whole job coordinates through Redis over TLS."""
from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rt_tls_proxy import TlsRelay, make_certificate

from airflow_provider_cylon.runtime import storage
from airflow_provider_cylon.runtime.bootstrap import connect
from airflow_provider_cylon.client.run import run_job
from airflow_provider_cylon.runtime.spec import JobSpec

pytestmark = [pytest.mark.integration("redis"),
              pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")]


def test_job_over_rediss(tmp_path, valkey_server) -> None:
    cert, key = make_certificate(tmp_path)
    with TlsRelay((valkey_server.host, valkey_server.port), cert, key) as relay:
        url = f"rediss://127.0.0.1:{relay.port}/0?ssl_ca_certs={cert}&ssl_cert_reqs=required"
        assert connect(url).ping()
        pq.write_table(pa.table({"k": [2, 1, 3, 1]}), tmp_path / "in.parquet")
        spec = JobSpec.for_op("unique", [str(tmp_path / "in.parquet")], str(tmp_path / "out"), channel="redis")
        manifest = run_job(spec, world_size=2, redis_url=url)
    assert manifest["rows"] == 3
    assert sorted(storage.read_output(str(tmp_path / "out")).column("k").to_pylist()) == [1, 2, 3]


def test_rediss_refuses_an_untrusted_certificate(tmp_path, valkey_server) -> None:
    import redis

    cert, key = make_certificate(tmp_path)
    with TlsRelay((valkey_server.host, valkey_server.port), cert, key) as relay:
        with pytest.raises(redis.ConnectionError):
            connect(f"rediss://127.0.0.1:{relay.port}/0?ssl_cert_reqs=required").ping()
