"""Hole punching through two real NATs, built from network namespaces (root only).

Topology (all addresses live only inside namespaces this test creates)::

    host-a 10.1.0.2 -- nat-a [MASQUERADE 203.0.113.2] --+
                                                         wan router -- rendezvous 198.51.100.10:10000
    host-b 10.2.0.2 -- nat-b [MASQUERADE 192.0.2.2]  ---+

Each NAT drops unsolicited inbound connections, as home and cloud NATs do, so
the only way for host-a and host-b to talk is the punched link. The test skips
when it cannot build this (not root, no ``ip``/``iptables``, no netns support).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[3]
SERVER_IP = "198.51.100.10"


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, timeout=30)


class NatLab:
    """Creates and removes the namespaces, links and NAT rules of the topology above."""

    def __init__(self, random_ports: bool = False) -> None:
        tag = uuid.uuid4().hex[:5]
        self.ns = {k: f"cy{tag}{k}" for k in ("wan", "srv", "na", "nb", "ha", "hb")}
        self.random_ports = random_ports
        self.procs: list[subprocess.Popen[str]] = []

    def ex(self, ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _sh("ip", "netns", "exec", self.ns[ns], *cmd, check=check)

    def _link(self, a: str, a_if: str, a_ip: str, b: str, b_if: str, b_ip: str) -> None:
        _sh("ip", "link", "add", a_if, "netns", self.ns[a], "type", "veth", "peer", "name", b_if,
            "netns", self.ns[b])
        self.ex(a, "ip", "addr", "add", a_ip, "dev", a_if)
        self.ex(b, "ip", "addr", "add", b_ip, "dev", b_if)
        self.ex(a, "ip", "link", "set", a_if, "up")
        self.ex(b, "ip", "link", "set", b_if, "up")

    def up(self) -> NatLab:
        for name in self.ns.values():
            _sh("ip", "netns", "add", name)
        for key in self.ns:
            self.ex(key, "ip", "link", "set", "lo", "up")
        self._link("wan", "w-srv", "198.51.100.1/24", "srv", "eth0", f"{SERVER_IP}/24")
        self._link("wan", "w-na", "203.0.113.1/24", "na", "wan0", "203.0.113.2/24")
        self._link("wan", "w-nb", "192.0.2.1/24", "nb", "wan0", "192.0.2.2/24")
        self._link("na", "lan0", "10.1.0.1/24", "ha", "eth0", "10.1.0.2/24")
        self._link("nb", "lan0", "10.2.0.1/24", "hb", "eth0", "10.2.0.2/24")
        self.ex("srv", "ip", "route", "add", "default", "via", "198.51.100.1")
        self.ex("ha", "ip", "route", "add", "default", "via", "10.1.0.1")
        self.ex("hb", "ip", "route", "add", "default", "via", "10.2.0.1")
        self.ex("na", "ip", "route", "add", "default", "via", "203.0.113.1")
        self.ex("nb", "ip", "route", "add", "default", "via", "192.0.2.1")
        for router in ("wan", "na", "nb"):
            self.ex(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for nat in ("na", "nb"):
            masq = ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE"]
            self.ex(nat, *(masq + (["--random-fully"] if self.random_ports else [])))
            # A real NAT: nothing from outside gets in unless it answers a connection from inside.
            self.ex(nat, "iptables", "-A", "FORWARD", "-i", "wan0", "-m", "conntrack", "--ctstate",
                    "ESTABLISHED,RELATED", "-j", "ACCEPT")
            self.ex(nat, "iptables", "-A", "FORWARD", "-i", "wan0", "-j", "DROP")
            self.ex(nat, "iptables", "-A", "INPUT", "-i", "wan0", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")
        return self

    def spawn(self, ns: str, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[ns], sys.executable, *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def down(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for name in self.ns.values():
            _sh("ip", "netns", "del", name, check=False)


def _can_build() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs {tool!r} (apt-get install iproute2 iptables)"
    probe = f"cyprobe{uuid.uuid4().hex[:4]}"
    try:
        if _sh("ip", "netns", "add", probe, check=False).returncode != 0:
            return "cannot create network namespaces here"
        if _sh("ip", "netns", "exec", probe, "iptables", "-t", "nat", "-L", check=False).returncode != 0:
            return "iptables NAT tables are not available in a namespace here"
    finally:
        _sh("ip", "netns", "del", probe, check=False)
    return None


@pytest.fixture()
def lab_factory() -> Iterator[type[NatLab]]:
    reason = _can_build()
    if reason:
        pytest.skip(reason)
    labs: list[NatLab] = []

    def make(random_ports: bool = False) -> NatLab:
        lab = NatLab(random_ports)
        labs.append(lab)
        return lab.up()

    yield make  # type: ignore[misc]
    for lab in labs:
        lab.down()


_PEER = """
import json, sys
from airflow_provider_cylon.runtime.rendezvous import PunchError, punch
name, timeout = sys.argv[1], float(sys.argv[2])
try:
    sock = punch(("%s", 10000), "nat/0-1", timeout_s=timeout)
except PunchError as err:
    print(json.dumps({"error": str(err)})); sys.exit(0)
sock.sendall(("hello from " + name).encode())
sock.settimeout(10)
got = sock.recv(64).decode()
print(json.dumps({"local": sock.getsockname(), "peer": sock.getpeername(), "got": got}))
""" % SERVER_IP


def _start_server(lab: NatLab) -> None:
    lab.spawn("srv", "-m", "airflow_provider_cylon.cli", "rendezvous", "--host", "0.0.0.0", "--port", "10000")
    probe = "import socket; socket.create_connection(('127.0.0.1', 10000), timeout=1).close()"
    deadline = time.monotonic() + 30
    while lab.ex("srv", sys.executable, "-c", probe, check=False).returncode != 0:
        assert time.monotonic() < deadline, "rendezvous server did not start in its namespace"
        time.sleep(0.2)


def test_the_nats_block_direct_connections(lab_factory) -> None:
    """Sanity: without punching, host-a cannot reach host-b's public address (nothing listens, packets dropped)."""
    lab = lab_factory()
    code = "import socket; socket.create_connection(('192.0.2.2', 4000), timeout=1.5)"
    result = lab.ex("ha", sys.executable, "-c", code, check=False)
    assert result.returncode != 0 and "timed out" in result.stderr


def test_two_workers_behind_separate_nats_get_a_direct_link(lab_factory) -> None:
    lab = lab_factory()
    _start_server(lab)
    peers = [lab.spawn(ns, "-c", _PEER, name, "20") for ns, name in (("ha", "a"), ("hb", "b"))]
    outs = []
    for proc in peers:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    a, b = outs
    assert "error" not in a and "error" not in b, (a, b)
    assert a["got"] == "hello from b" and b["got"] == "hello from a"
    # Each side sees the other's *public* (NAT) address: the link crosses both NATs.
    assert a["local"][0] == "10.1.0.2" and a["peer"][0] == "192.0.2.2"
    assert b["local"][0] == "10.2.0.2" and b["peer"][0] == "203.0.113.2"


def test_port_randomising_nats_defeat_punching_within_the_deadline(lab_factory) -> None:
    """Symmetric NATs (a new port per destination) cannot be punched: the client gives up in time."""
    lab = lab_factory(random_ports=True)
    _start_server(lab)
    started = time.monotonic()
    peers = [lab.spawn(ns, "-c", _PEER, name, "4") for ns, name in (("ha", "a"), ("hb", "b"))]
    outs = [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in peers]
    assert all("no direct link" in o.get("error", "") for o in outs), outs
    assert time.monotonic() - started < 20
