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


def _wait_for(condition, timeout: float = 60.0) -> float:
    import time

    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition never held"
        time.sleep(0.1)
    return time.monotonic() - started


def test_shared_server_stops_when_idle_and_not_while_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3 s idle limit: a client running commands keeps it up; once it stops, the server goes."""
    import time

    import redis

    from airflow_provider_cylon.client.embedded_valkey import IDLE_ENV, list_embedded

    monkeypatch.setenv(IDLE_ENV, "3")
    state = tmp_path / "state"
    url = embedded_redis_url(state)
    try:
        client = redis.Redis.from_url(url)
        busy_until = time.monotonic() + 6  # twice the idle limit, with a command every 0.5 s (a job's beats)
        while time.monotonic() < busy_until:
            client.set("beat", "1")
            time.sleep(0.5)
        assert running_embedded_url(state) == url
        client.close()  # an idle connection alone does not keep it alive
        listed = [s for s in list_embedded() if s.directory == state]
        assert len(listed) == 1 and listed[0].idle_s == 3.0 and listed[0].watchdog_pid
        from airflow_provider_cylon.client.processes import process_alive as _alive

        # watched by its pid, not by PING: a PING is a command, and would keep it alive
        stopped_after = _wait_for(lambda: not _alive(listed[0].pid))
        print(f"\nidle embedded Valkey stopped {stopped_after:.1f}s after its last command (limit 3 s)")
        _wait_for(lambda: not (state / "embedded-valkey.json").exists(), 10)  # the watchdog forgets it
        assert embedded_redis_url(state) != url or running_embedded_url(state)  # the next task starts a fresh one  # the next task starts a fresh one
    finally:
        stop_embedded_valkey(state)


def test_cli_lists_and_stops_embedded_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from airflow_provider_cylon.cli import main

    monkeypatch.setenv("CYLON_VALKEY_IDLE_S", "0")  # only the CLI stops this one
    state = tmp_path / "state"
    url = embedded_redis_url(state)
    try:
        assert main(["valkey", "list", "--json"]) == 0
        listed = [s for s in json.loads(capsys.readouterr().out) if s["directory"] == str(state)]
        assert len(listed) == 1 and listed[0]["url"] == url and listed[0]["throwaway"] is False
        assert main(["valkey", "list"]) == 0
        assert f"{url}" in capsys.readouterr().out
        assert main(["valkey", "stop", "--state-dir", str(state)]) == 0
        assert "stopped the embedded Valkey" in capsys.readouterr().out
        assert running_embedded_url(state) is None
        assert main(["valkey", "stop", "--state-dir", str(state)]) == 1  # nothing left to stop
        assert "no embedded Valkey running" in capsys.readouterr().out
        main(["valkey", "list", "--json"])
        assert not [s for s in json.loads(capsys.readouterr().out) if s["directory"] == str(state)]
    finally:
        stop_embedded_valkey(state)


def test_throwaway_server_stops_when_its_owner_is_killed(tmp_path: Path) -> None:
    """A run_job killed before its `finally`: the watchdog stops the server and removes its temp dir."""
    import signal

    code = textwrap.dedent("""
        import sys, time
        from airflow_provider_cylon.client.embedded_valkey import embedded_valkey
        with embedded_valkey() as url:
            print(url, flush=True)
            time.sleep(600)
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    url = proc.stdout.readline().strip()
    host, port = url.split("//")[1].split("/")[0].split(":")
    from airflow_provider_cylon.client.embedded_valkey import _ping

    assert _ping(host, int(port)) and [p.name for p in tmp_path.iterdir() if p.name.startswith("cylon-valkey-")]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_for(lambda: not _ping(host, int(port)))
    _wait_for(lambda: not [p for p in tmp_path.iterdir() if p.name.startswith("cylon-valkey-")])
