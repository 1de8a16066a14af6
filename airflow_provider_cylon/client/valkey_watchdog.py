"""The embedded Valkey's watchdog: it stops the server once nobody has used it for a while.

The shared embedded server runs in a session of its own, so it outlives the task
that started it (a deferred task's process exits while its job runs); without a
watchdog it would outlive every process that used it. This small process polls
``INFO`` every fifth of the idle limit (at most every 10 s) and counts the
commands others ran since its last poll (``total_commands_processed`` minus its
own ``INFO``): a job's workers beat every few seconds, its waiter re-blocks at
least every 10 s (``BLPOP``), so a job in progress is never idle; idle
connections alone do not keep the server alive. Once nothing happened for the
idle limit it takes the state directory's lock (a task starting a job holds it
while it checks the server), looks once more, and stops the server with
``SHUTDOWN NOSAVE``; the next task starts a fresh one.

A throw-away server of one ``run_job`` is stopped when its owner process is
gone (killed before its ``finally`` ran), and its temp directory removed.

Run as ``python -m airflow_provider_cylon.client.valkey_watchdog --port P --server-pid PID ...``.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from airflow_provider_cylon.client.processes import process_alive

log = logging.getLogger(__name__)

#: Longest pause between two polls, whatever the idle limit.
MAX_CHECK_S = 10.0


def _forget(state_dir: Path | None, server_pid: int) -> None:
    """Remove the state file if it still names this server (a newer one may have replaced it)."""
    if state_dir is None:
        return
    path = state_dir / "embedded-valkey.json"
    try:
        if int(json.loads(path.read_text()).get("pid", -1)) == server_pid:
            path.unlink()
    except (OSError, ValueError):
        pass


class Watchdog:
    """Poll one server and stop it when idle (or when its owner is gone).

    :param host: the server's address.
    :param port: its port.
    :param server_pid: its process id (the watchdog ends when it is gone).
    :param idle_s: stop after this many seconds without a command from others (0: never for idleness).
    :param state_dir: the shared server's state directory (its lock and state file), if any.
    :param owner_pid: stop when this process is gone (a throw-away server's ``run_job``).
    :param remove_dir: directory to delete after stopping (a throw-away server's temp dir).
    """

    def __init__(self, host: str, port: int, server_pid: int, idle_s: float, *, state_dir: Path | None = None,
                 owner_pid: int | None = None, remove_dir: Path | None = None) -> None:
        import redis

        self.host, self.port, self.server_pid, self.idle_s = host, port, server_pid, idle_s
        self.state_dir, self.owner_pid, self.remove_dir = state_dir, owner_pid, remove_dir
        limits = [MAX_CHECK_S] + ([idle_s / 5] if idle_s > 0 else []) + ([1.0] if owner_pid else [])
        self.check_s = max(0.1, min(limits))
        self.client = redis.Redis(host=host, port=port, socket_timeout=5, socket_connect_timeout=5)
        self._last_total: int | None = None
        self._active_at = time.monotonic()

    def _used_since_last_poll(self) -> bool:
        """Whether anyone else ran a command (or is blocked in one) since the previous poll."""
        info = self.client.info()
        total = int(info.get("total_commands_processed", 0))
        # The counter includes our previous INFO, not this one.
        used = self._last_total is not None and total - self._last_total > 1
        self._last_total = total
        return used or int(info.get("blocked_clients", 0)) > 0

    def _shutdown(self, why: str) -> None:
        import redis

        log.warning("stopping the embedded Valkey pid=%s at %s:%s: %s", self.server_pid, self.host, self.port, why)
        try:
            self.client.shutdown(nosave=True)
        except redis.exceptions.ConnectionError:
            pass  # the server closes the connection as it exits
        except redis.exceptions.ResponseError as err:
            log.error("SHUTDOWN refused: %s; sending SIGTERM", err)
            os.kill(self.server_pid, 15)
        deadline = time.monotonic() + 10
        while process_alive(self.server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _stop_if_still_idle(self) -> bool:
        """Under the state directory's lock: look once more, then stop; whether it stopped."""
        lock = None
        if self.state_dir is not None:
            lock = open(self.state_dir / "embedded-valkey.lock", "w")  # noqa: SIM115 - held across the check
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if self._used_since_last_poll():
                self._active_at = time.monotonic()
                return False
            self._shutdown(f"no command for {self.idle_s:g} s (CYLON_VALKEY_IDLE_S)")
            _forget(self.state_dir, self.server_pid)
            return True
        finally:
            if lock is not None:
                lock.close()

    def run(self) -> int:
        """Poll until the server is gone or stopped; the exit code."""
        import redis

        try:
            while process_alive(self.server_pid):
                if self.owner_pid is not None and not process_alive(self.owner_pid):
                    self._shutdown(f"its owner pid={self.owner_pid} is gone")
                    break
                try:
                    if self._used_since_last_poll():
                        self._active_at = time.monotonic()
                    elif self.idle_s > 0 and time.monotonic() - self._active_at >= self.idle_s:
                        if self._stop_if_still_idle():
                            break
                except redis.exceptions.RedisError as err:  # starting up, or going away
                    log.info("embedded Valkey at %s:%s did not answer INFO: %s", self.host, self.port, err)
                time.sleep(self.check_s)
        finally:
            self.client.close()
            if not process_alive(self.server_pid):
                _forget(self.state_dir, self.server_pid)
            if self.remove_dir is not None:
                shutil.rmtree(self.remove_dir, ignore_errors=True)
        return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the watchdog process."""
    p = argparse.ArgumentParser(prog="valkey_watchdog", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--idle-s", type=float, default=0.0)
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--owner-pid", type=int, default=None)
    p.add_argument("--remove-dir", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s valkey-watchdog: %(message)s")
    return Watchdog(args.host, args.port, args.server_pid, args.idle_s, state_dir=args.state_dir,
                    owner_pid=args.owner_pid, remove_dir=args.remove_dir).run()


if __name__ == "__main__":
    sys.exit(main())
