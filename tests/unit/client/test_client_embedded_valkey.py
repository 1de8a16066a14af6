"""The embedded Valkey: shared per state directory across processes, or throw-away for one job."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_cylon.client.embedded_valkey import (
    embedded_redis_url,
    embedded_valkey,
    running_embedded_url,
    stop_embedded_valkey,
)


def test_embedded_valkey_is_shared_across_processes_and_stopped(tmp_path: Path) -> None:
    """Started once, found again from another process (as the triggerer would), then stopped."""
    state = tmp_path / "state"
    url = embedded_redis_url(state)
    try:
        assert embedded_redis_url(state) == url  # reused, not restarted
        code = textwrap.dedent(f"""
            from pathlib import Path
            from airflow_provider_cylon.client.embedded_valkey import running_embedded_url
            import redis
            url = running_embedded_url(Path({str(state)!r}))
            redis.Redis.from_url(url).set("from-child", "1")
            print(url)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env={**os.environ})
        assert out.stdout.strip() == url, out.stderr
        import redis

        assert redis.Redis.from_url(url).get("from-child") == b"1"
    finally:
        assert stop_embedded_valkey(state) is True
    assert running_embedded_url(state) is None


def test_throwaway_valkey_starts_and_stops() -> None:
    import redis

    with embedded_valkey() as url:
        assert redis.Redis.from_url(url).ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
