"""The rendezvous server and the hole-punching client, with real sockets on loopback."""
from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations

import pytest

from airflow_provider_cylon.runtime.rendezvous import PunchError, punch, register

pytestmark = pytest.mark.timeout(60)


def _raw(address: tuple[str, int], payload: bytes, *, wait_s: float = 3.0) -> bytes:
    """Send raw bytes to the server; return everything it answers before closing."""
    with socket.create_connection(address, timeout=wait_s) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
        except socket.timeout:
            pass
        except ConnectionResetError:
            pass  # the server closed with our unread bytes in its buffer: the kernel sent RST
        return b"".join(chunks)


def _until(pred, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_two_peers_learn_each_others_public_address(rendezvous_server) -> None:
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: register(rendezvous_server.address, "job1/0-1", timeout_s=5), range(2))
    assert a.peer == ("127.0.0.1", b.local_port) and b.peer == ("127.0.0.1", a.local_port)
    assert a.public == ("127.0.0.1", a.local_port)
    assert rendezvous_server.server.stats.paired == 1 and rendezvous_server.server.pending == 0


@pytest.mark.parametrize("world", [2, 3, 4])
def test_every_pair_of_workers_gets_one_direct_link(rendezvous_server, world: int) -> None:
    """Each worker punches world-1 links in parallel; bytes flow both ways on each."""
    links: dict[tuple[int, int], socket.socket] = {}
    lock = threading.Lock()

    def worker(rank: int) -> None:
        def link(peer: int) -> None:
            lo, hi = sorted((rank, peer))
            sock = punch(rendezvous_server.address, f"mesh/{lo}-{hi}", timeout_s=10)
            with lock:
                links[(rank, peer)] = sock
        with ThreadPoolExecutor(world - 1) as pool:
            list(pool.map(link, [p for p in range(world) if p != rank]))

    with ThreadPoolExecutor(world) as pool:
        list(pool.map(worker, range(world)))
    assert len(links) == world * (world - 1)
    for a, b in combinations(range(world), 2):
        sa, sb = links[(a, b)], links[(b, a)]
        # One TCP connection: each end's local address is the other's remote address.
        assert sa.getsockname()[1] == sb.getpeername()[1] and sb.getsockname()[1] == sa.getpeername()[1]
        sa.sendall(f"{a}->{b}".encode())
        sb.sendall(f"{b}->{a}".encode())
        assert sb.recv(64) == f"{a}->{b}".encode() and sa.recv(64) == f"{b}->{a}".encode()
    for sock in links.values():
        sock.close()
    assert rendezvous_server.server.stats.paired == world * (world - 1) // 2


@pytest.mark.parametrize(
    "payload, counter",
    [
        (b"not json at all\n", "dropped_malformed"),
        (b'{"v": 2, "pair": "x"}\n', "dropped_malformed"),
        (b'{"v": 1, "pair": "bad name with spaces"}\n', "dropped_malformed"),
        (b'{"v": 1}\n', "dropped_malformed"),
        (b"[1, 2, 3]\n", "dropped_malformed"),
        (b"\xff\xfe\n", "dropped_malformed"),
        (b'{"v": 1, "pair": "' + b"a" * 5000 + b'"}\n', "dropped_oversized"),
    ],
)
def test_malformed_and_oversized_requests_are_dropped_without_an_answer(rendezvous_server, payload, counter) -> None:
    assert _raw(rendezvous_server.address, payload) == b""
    assert getattr(rendezvous_server.server.stats, counter) == 1
    # The server is still serving.
    with ThreadPoolExecutor(2) as pool:
        infos = list(pool.map(lambda _: register(rendezvous_server.address, "after", timeout_s=5), range(2)))
    assert infos[0].peer[1] == infos[1].local_port


def test_slow_clients_are_cut_after_the_read_timeout(rendezvous_factory) -> None:
    srv = rendezvous_factory(read_timeout_s=0.3)
    with socket.create_connection(srv.address, timeout=5) as sock:
        sock.sendall(b'{"v": 1, "pa')  # never finishes the line
        assert sock.recv(10) == b""
    assert srv.server.stats.dropped_slow == 1


def test_shared_token_is_required_when_configured(rendezvous_factory) -> None:
    srv = rendezvous_factory(token="s3cret-token")
    with pytest.raises(PunchError, match="unauthorized"):
        register(srv.address, "p", token="wrong", timeout_s=5)
    with pytest.raises(PunchError, match="unauthorized"):
        register(srv.address, "p", timeout_s=5)
    assert srv.server.stats.rejected_auth == 2
    with ThreadPoolExecutor(2) as pool:
        infos = list(pool.map(lambda _: register(srv.address, "p", token="s3cret-token", timeout_s=5), range(2)))
    assert {i.local_port for i in infos} == {i.peer[1] for i in infos}


def test_pending_pairs_expire_and_memory_stays_bounded(rendezvous_factory) -> None:
    srv = rendezvous_factory(pair_ttl_s=0.3, max_pending=2)
    errors: list[str] = []

    def lonely(name: str) -> None:
        try:
            register(srv.address, name, timeout_s=5)
        except PunchError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=lonely, args=(f"alone{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    _until(lambda: srv.call(lambda: srv.server.pending) == 2)
    with pytest.raises(PunchError, match="busy"):
        register(srv.address, "one-too-many", timeout_s=5)
    for t in threads:
        t.join(5)
    assert len(errors) == 2 and all("timeout" in e for e in errors)
    assert srv.server.stats.expired == 2 and srv.server.stats.rejected_busy == 1
    assert srv.call(lambda: srv.server.pending) == 0


def test_a_waiter_that_leaves_frees_its_pair_name(rendezvous_server) -> None:
    with socket.create_connection(rendezvous_server.address, timeout=5) as sock:
        sock.sendall(b'{"v": 1, "pair": "gone"}\n')
        assert json.loads(sock.recv(4096))["status"] == "waiting"
    _until(lambda: rendezvous_server.call(lambda: rendezvous_server.server.pending) == 0)
    assert rendezvous_server.server.stats.peer_left == 1
    # The name is free again: a new pair with it pairs with each other, not with the ghost.
    with ThreadPoolExecutor(2) as pool:
        infos = list(pool.map(lambda _: register(rendezvous_server.address, "gone", timeout_s=5), range(2)))
    assert {i.local_port for i in infos} == {i.peer[1] for i in infos}


def test_health_endpoint_answers_http_with_counters(rendezvous_server) -> None:
    answer = _raw(rendezvous_server.address, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    stats = json.loads(body)
    assert stats["status"] == "ok" and stats["pending"] == 0 and "paired" in stats


def test_punch_names_the_server_when_it_cannot_be_reached() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PunchError, match=f"127.0.0.1:{port}"):
        punch(("127.0.0.1", port), "x", timeout_s=1)


def test_cli_serves_pairs_and_health_and_stops_on_sigterm(tmp_path) -> None:
    """``cylon-airflow rendezvous`` as an operator runs it: token from the environment, SIGTERM to stop."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CYLON_RENDEZVOUS_TOKEN": "cli-token"}
    proc = subprocess.Popen([sys.executable, "-m", "airflow_provider_cylon.cli", "rendezvous", "--host", "127.0.0.1",
                             "--port", str(port), "--pair-ttl", "5"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    assert json.loads(resp.read())["status"] == "ok"
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not come up"
                time.sleep(0.1)
        with ThreadPoolExecutor(2) as pool:
            socks = list(pool.map(lambda _: punch(("127.0.0.1", port), "cli/0-1", token="cli-token", timeout_s=5),
                                  range(2)))
        socks[0].sendall(b"ping")
        assert socks[1].recv(4) == b"ping"
        for sock in socks:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "'paired': 1" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize("request_head", [b"GET /health HTTP/1.0\r\n\r\n",
                                          b"GET /health HTTP/1.1\r\nHost: lb\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\r\n"])
def test_health_reads_the_whole_request_head_before_answering(rendezvous_server, request_head: bytes) -> None:
    started = time.monotonic()
    answer = _raw(rendezvous_server.address, request_head)
    assert answer.startswith(b"HTTP/1.1 200 OK") and time.monotonic() - started < 0.9


def test_random_bytes_never_get_an_answer_nor_break_the_server(rendezvous_server) -> None:
    """Fuzz: arbitrary request lines are dropped silently; the server keeps pairing afterwards."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sent = []

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=700).filter(lambda b: b"\n" not in b and not b.startswith(b"GET ")))
    def drop(line: bytes) -> None:
        sent.append(line)
        assert _raw(rendezvous_server.address, line + b"\n", wait_s=2.0) == b""

    drop()
    stats = rendezvous_server.server.stats
    assert stats.dropped_malformed + stats.dropped_oversized == len(sent)
    with ThreadPoolExecutor(2) as pool:
        infos = list(pool.map(lambda _: register(rendezvous_server.address, "after-fuzz", timeout_s=5), range(2)))
    assert {i.local_port for i in infos} == {i.peer[1] for i in infos}
