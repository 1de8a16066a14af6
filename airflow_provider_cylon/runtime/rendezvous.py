"""Rendezvous server and client for TCP hole punching (the TCPunch scheme).

Lambdas accept no inbound connections, but two of them can still talk
directly: each opens a connection to a rendezvous server from a local port,
the server tells each peer the other's public address (as the server saw it),
and both then connect to each other at the same time *from that same local
port* (``SO_REUSEADDR`` + ``SO_REUSEPORT``). Each NAT has just seen an
outgoing packet to the peer's address, so the peer's SYN gets through: the
result is one TCP connection, reached by a simultaneous open or by one side's
``accept``.

Wire protocol (one JSON object per line, UTF-8, at most ``max_line`` bytes)::

    client -> server  {"v": 1, "pair": "<name>", "token": "<optional shared token>"}
    server -> client  {"status": "waiting", "you": ["1.2.3.4", 4711]}
    server -> client  {"status": "paired", "you": [...], "peer": ["5.6.7.8", 4712]}
                      {"status": "timeout"} | {"status": "error", "reason": "..."}

A pair name is used by exactly two peers; it is freed as soon as they are
paired (or when the first one leaves or expires). ``GET /health`` on the same
port answers an HTTP 200 with counters, for load balancer health checks.

The server trusts no client: lines longer than ``max_line`` or that are not the
JSON above are dropped (the connection is closed without an answer), a slow
client is cut after ``read_timeout_s``, pending pairs expire after
``pair_ttl_s``, and at most ``max_pending`` pairs and ``max_connections``
connections are held, so memory stays bounded. With a token configured, a
request must carry it (compared in constant time).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import hmac
import json
import logging
import os
import re
import selectors
import signal
import socket
import time
from dataclasses import dataclass, field

from airflow_provider_cylon.runtime.errors import ChannelError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
PAIR_NAME_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")
DEFAULT_PORT = 10000


class PunchError(ChannelError):
    """Hole punching failed: the server refused, the peer never came, or no link within the deadline."""


@dataclass
class ServerStats:
    """Counters the health endpoint reports."""

    connections: int = 0
    pending: int = 0
    paired: int = 0
    expired: int = 0
    peer_left: int = 0
    dropped_malformed: int = 0
    dropped_oversized: int = 0
    dropped_slow: int = 0
    rejected_auth: int = 0
    rejected_busy: int = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready counters."""
        return dict(self.__dict__)


@dataclass
class _Waiter:
    """The first peer of a pair, waiting for the second."""

    address: tuple[str, int]
    matched: asyncio.Future[tuple[str, int]]
    created: float = field(default_factory=time.monotonic)


def _address(writer: asyncio.StreamWriter) -> tuple[str, int]:
    peer = writer.get_extra_info("peername")
    return (str(peer[0]), int(peer[1]))


class RendezvousServer:
    """Asyncio rendezvous server: pairs peers by name and tells each the other's address.

    :param host: address to listen on.
    :param port: TCP port (0 picks a free one; see :attr:`port` after :meth:`start`).
    :param token: optional shared token every request must carry.
    :param pair_ttl_s: how long the first peer of a pair may wait for the second.
    :param max_pending: most pairs waiting at once; more are refused with ``busy``.
    :param max_connections: most connections held at once; more are closed at once.
    :param max_line: longest request line accepted (bytes); longer ones are dropped.
    :param read_timeout_s: how long a client may take to send its request line.
    """

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        *,
        token: str | None = None,
        pair_ttl_s: float = 30.0,
        max_pending: int = 10_000,
        max_connections: int = 20_000,
        max_line: int = 512,
        read_timeout_s: float = 5.0,
    ) -> None:
        if pair_ttl_s <= 0 or read_timeout_s <= 0:
            raise ValueError(f"pair_ttl_s and read_timeout_s must be > 0, got {pair_ttl_s} and {read_timeout_s}")
        if max_pending < 1 or max_connections < 2:
            raise ValueError(f"max_pending must be >= 1 and max_connections >= 2, got {max_pending}, {max_connections}")
        self.host = host
        self._port = port
        self._token = token.encode() if token else None
        self.pair_ttl_s = pair_ttl_s
        self.max_pending = max_pending
        self.max_connections = max_connections
        self.max_line = max_line
        self.read_timeout_s = read_timeout_s
        self.stats = ServerStats()
        self._pending: dict[str, _Waiter] = {}
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (the real one once started)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def pending(self) -> int:
        """Pairs whose first peer is waiting."""
        return len(self._pending)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(
            self._handle, self.host, self._port, limit=self.max_line + 2, reuse_address=True
        )
        log.info("rendezvous listening on %s:%d (auth=%s)", self.host, self.port, bool(self._token))

    async def serve_forever(self) -> None:
        """Start (if needed) and serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        """Stop accepting, fail the waiters and close the listening socket."""
        for waiter in list(self._pending.values()):
            if not waiter.matched.done():
                waiter.matched.cancel()
        self._pending.clear()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # -- one connection ---------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            if self.stats.connections > self.max_connections:
                self.stats.rejected_busy += 1
                return
            await self._serve_one(reader, writer)
        except (ConnectionError, OSError):
            pass  # the client went away; nothing to answer
        finally:
            self.stats.connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), self.read_timeout_s)
        except asyncio.TimeoutError:
            self.stats.dropped_slow += 1
            return
        except asyncio.LimitOverrunError:
            self.stats.dropped_oversized += 1
            return
        except asyncio.IncompleteReadError as err:
            if err.partial.startswith(b"GET "):
                await self._health(writer)
            else:
                self.stats.dropped_malformed += 1
            return
        if line.startswith(b"GET "):
            # Read the rest of the (small) request head first: closing a socket with unread
            # bytes makes the kernel answer RST, and the health checker would see a reset.
            with contextlib.suppress(asyncio.TimeoutError, ValueError, ConnectionError):
                await asyncio.wait_for(self._skip_head(reader), 1.0)
            await self._health(writer)
            return
        request = self._parse(line)
        if request is None:
            self.stats.dropped_malformed += 1
            return
        if self._token is not None:
            given = request.get("token")
            if not isinstance(given, str) or not hmac.compare_digest(given.encode(), self._token):
                self.stats.rejected_auth += 1
                await self._send(writer, {"status": "error", "reason": "unauthorized"})
                return
        await self._pair(str(request["pair"]), reader, writer)

    def _parse(self, line: bytes) -> dict[str, object] | None:
        if len(line) > self.max_line:
            return None
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(request, dict) or request.get("v") != PROTOCOL_VERSION:
            return None
        pair = request.get("pair")
        if not isinstance(pair, str) or not PAIR_NAME_RE.match(pair):
            return None
        return request

    async def _pair(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = _address(writer)
        waiter = self._pending.pop(name, None)
        if waiter is not None and not waiter.matched.done():
            # Second peer: hand each one the other's public address.
            waiter.matched.set_result(me)
            self.stats.paired += 1
            self.stats.pending = len(self._pending)
            await self._send(writer, {"status": "paired", "you": list(me), "peer": list(waiter.address)})
            return
        if len(self._pending) >= self.max_pending:
            self.stats.rejected_busy += 1
            await self._send(writer, {"status": "error", "reason": "busy"})
            return
        loop = asyncio.get_running_loop()
        mine = _Waiter(address=me, matched=loop.create_future())
        self._pending[name] = mine
        self.stats.pending = len(self._pending)
        try:
            await self._send(writer, {"status": "waiting", "you": list(me)})
            # Wait for the peer, the client's EOF (it left) or the TTL, whichever is first.
            eof = asyncio.ensure_future(reader.read(1))
            done, _ = await asyncio.wait({mine.matched, eof}, timeout=self.pair_ttl_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            eof.cancel()
            self._forget(name, mine)
            if mine.matched in done and not mine.matched.cancelled():
                peer = mine.matched.result()
                await self._send(writer, {"status": "paired", "you": list(me), "peer": list(peer)})
            elif eof in done:
                self.stats.peer_left += 1
            else:
                self.stats.expired += 1
                await self._send(writer, {"status": "timeout"})
        finally:
            self._forget(name, mine)

    def _forget(self, name: str, waiter: _Waiter) -> None:
        """Free the pair name (if it is still ours) before answering, so counters are exact."""
        if self._pending.get(name) is waiter:
            del self._pending[name]
        if not waiter.matched.done():
            waiter.matched.cancel()
        self.stats.pending = len(self._pending)

    async def _send(self, writer: asyncio.StreamWriter, message: dict[str, object]) -> None:
        writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        await asyncio.wait_for(writer.drain(), self.read_timeout_s)

    @staticmethod
    async def _skip_head(reader: asyncio.StreamReader) -> None:
        """Read header lines up to the blank line that ends an HTTP request head (at most 64)."""
        for _ in range(64):
            if (await reader.readline()).strip() == b"":
                return

    async def _health(self, writer: asyncio.StreamWriter) -> None:
        body = json.dumps({"status": "ok", **self.stats.to_dict()}).encode()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head + body)
        await asyncio.wait_for(writer.drain(), self.read_timeout_s)


# -- client ---------------------------------------------------------------------


def _reusable_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


@dataclass(frozen=True)
class PairInfo:
    """What the server told one peer: its own public address and the other's."""

    local_port: int
    public: tuple[str, int]
    peer: tuple[str, int]


def register(
    server: tuple[str, int],
    pair: str,
    *,
    token: str | None = None,
    timeout_s: float = 30.0,
    bind_host: str = "0.0.0.0",
) -> PairInfo:
    """Register ``pair`` with the rendezvous server and wait for the peer's address.

    :param server: ``(host, port)`` of the rendezvous server.
    :param pair: the pair name both peers use (e.g. ``job:0-1``).
    :param token: the shared token, if the server requires one.
    :param timeout_s: how long to wait for the peer.
    :param bind_host: local address to bind (the port is picked by the OS and reused for the punch).
    :raises PunchError: refused, timed out, or a malformed answer.
    """
    if not PAIR_NAME_RE.match(pair):
        raise PunchError(f"pair name {pair!r} must match {PAIR_NAME_RE.pattern}")
    sock = _reusable_socket()
    try:
        sock.bind((bind_host, 0))
        sock.settimeout(timeout_s)
        try:
            sock.connect(server)
        except OSError as err:
            raise PunchError(f"cannot reach rendezvous server {server[0]}:{server[1]}: {err}") from err
        local_port = int(sock.getsockname()[1])
        request: dict[str, object] = {"v": PROTOCOL_VERSION, "pair": pair}
        if token:
            request["token"] = token
        sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        deadline = time.monotonic() + timeout_s
        buf = b""
        while True:
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PunchError(f"pair {pair!r}: no peer within {timeout_s:.1f} s")
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(4096)
                except TimeoutError as err:
                    raise PunchError(f"pair {pair!r}: no peer within {timeout_s:.1f} s") from err
                if not chunk:
                    raise PunchError(f"pair {pair!r}: rendezvous server closed the connection")
                buf += chunk
                if len(buf) > 4096:
                    raise PunchError(f"pair {pair!r}: oversized answer from the rendezvous server")
            line, buf = buf.split(b"\n", 1)
            try:
                answer = json.loads(line)
            except ValueError as err:
                raise PunchError(f"pair {pair!r}: malformed answer {line[:80]!r}") from err
            status = answer.get("status") if isinstance(answer, dict) else None
            if status == "waiting":
                continue
            if status == "paired":
                you, peer = answer.get("you"), answer.get("peer")
                return PairInfo(local_port=local_port, public=(str(you[0]), int(you[1])),
                                peer=(str(peer[0]), int(peer[1])))
            raise PunchError(f"pair {pair!r}: rendezvous server answered {answer!r}")
    finally:
        # Closed after the server's answer: the server closes first, so the
        # TIME_WAIT state stays on its side and our port is free to reuse.
        sock.close()


_RETRY_ERRNOS = {
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH,
    errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EADDRINUSE, errno.ECONNABORTED,
}


def connect_simultaneous(
    info: PairInfo,
    *,
    timeout_s: float = 10.0,
    bind_host: str = "0.0.0.0",
    retry_interval_s: float = 0.02,
) -> socket.socket:
    """Open the direct link: listen on and connect from ``info.local_port`` at once.

    Whichever completes first wins: our ``connect`` (simultaneous open, or the
    peer's listener accepted it) or our listener's ``accept`` of the peer's
    connect. Both name the same 4-tuple, so both peers end on one connection.

    :param info: the pairing answer from :func:`register`.
    :param timeout_s: deadline for the link.
    :param bind_host: local address to bind.
    :param retry_interval_s: pause between refused connects.
    :returns: a connected blocking socket.
    :raises PunchError: no link within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    listener = _reusable_socket()
    listener.bind((bind_host, info.local_port))
    listener.listen(4)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    connector: socket.socket | None = None
    attempts = 0
    last_error = "none"
    try:
        while time.monotonic() < deadline:
            if connector is None:
                connector = _reusable_socket()
                connector.setblocking(False)
                connector.bind((bind_host, info.local_port))
                attempts += 1
                rc = connector.connect_ex(info.peer)
                if rc not in (0, errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
                    last_error = errno.errorcode.get(rc, str(rc))
                    connector.close()
                    connector = None
                    for key, _ in sel.select(retry_interval_s):
                        if key.data == "accept":
                            got = _accepted(listener, info)
                            if got is not None:
                                return got
                    continue
                sel.register(connector, selectors.EVENT_WRITE, "connect")
            for key, _ in sel.select(min(0.05, max(0.0, deadline - time.monotonic()))):
                if key.data == "accept":
                    got = _accepted(listener, info)
                    if got is not None:
                        return got
                elif key.data == "connect":
                    assert connector is not None
                    err = connector.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    sel.unregister(connector)
                    if err == 0:
                        won, connector = connector, None
                        won.setblocking(True)
                        return won
                    last_error = errno.errorcode.get(err, str(err))
                    connector.close()
                    connector = None
                    if err not in _RETRY_ERRNOS:
                        log.debug("punch to %s: unexpected %s, retrying", info.peer, last_error)
                    time.sleep(retry_interval_s)
        raise PunchError(
            f"no direct link to {info.peer[0]}:{info.peer[1]} from local port {info.local_port} "
            f"within {timeout_s:.1f} s ({attempts} connects, last error {last_error})"
        )
    finally:
        sel.close()
        listener.close()
        if connector is not None:
            connector.close()


def _accepted(listener: socket.socket, info: PairInfo) -> socket.socket | None:
    try:
        conn, addr = listener.accept()
    except BlockingIOError:
        return None
    if addr[0] != info.peer[0]:
        # Someone else reached our port: not our peer. Drop it and keep waiting.
        conn.close()
        return None
    conn.setblocking(True)
    return conn


def punch(
    server: tuple[str, int],
    pair: str,
    *,
    token: str | None = None,
    timeout_s: float = 10.0,
    bind_host: str = "0.0.0.0",
) -> socket.socket:
    """Register ``pair`` and open the direct link to the peer (both steps within ``timeout_s``).

    :param server: ``(host, port)`` of the rendezvous server.
    :param pair: the pair name both peers use.
    :param token: the shared token, if the server requires one.
    :param timeout_s: overall deadline.
    :param bind_host: local address to bind.
    :raises PunchError: when no link is made in time.
    """
    start = time.monotonic()
    info = register(server, pair, token=token, timeout_s=timeout_s, bind_host=bind_host)
    remaining = max(0.5, timeout_s - (time.monotonic() - start))
    return connect_simultaneous(info, timeout_s=remaining, bind_host=bind_host)


# -- command line ---------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``cylon-airflow rendezvous``.

    :param parser: the subcommand's parser.
    """
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CYLON_RENDEZVOUS_PORT", DEFAULT_PORT)))
    parser.add_argument("--token-env", default="CYLON_RENDEZVOUS_TOKEN",
                        help="environment variable holding the shared token (unset or empty: no auth)")
    parser.add_argument("--pair-ttl", type=float, default=30.0, help="seconds a peer may wait for its partner")
    parser.add_argument("--max-pending", type=int, default=10_000, help="pairs waiting at once")
    parser.add_argument("--max-connections", type=int, default=20_000, help="connections held at once")
    parser.add_argument("--read-timeout", type=float, default=5.0, help="seconds to send the request line")


def run_cli(args: argparse.Namespace) -> int:
    """``cylon-airflow rendezvous``: serve until interrupted (SIGINT/SIGTERM).

    The token is read from the environment variable named by ``--token-env``,
    never from the command line (which other users of the host can read).

    :param args: the parsed arguments.
    """
    token = os.environ.get(args.token_env) or None
    server = RendezvousServer(
        args.host, args.port, token=token, pair_ttl_s=args.pair_ttl, max_pending=args.max_pending,
        max_connections=args.max_connections, read_timeout_s=args.read_timeout,
    )

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        try:
            await server.serve_forever()
        except asyncio.CancelledError:
            pass
        finally:
            await server.close()
            log.info("rendezvous stopped: %s", server.stats.to_dict())

    asyncio.run(serve())
    return 0
