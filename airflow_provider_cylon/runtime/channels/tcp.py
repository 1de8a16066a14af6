"""The tcp channel: direct sockets between workers that can reach each other.

The default for the local executor (processes, containers). Each rank listens
on one socket (:meth:`TcpChannel.bind`, before the all_gather publishes the
address); every pair of ranks is connected once, the lower rank dialling the
higher one, and the connection carries both directions for every step.

A frame is::

    !I header length | JSON header {"step", "src", "nbytes"} | nbytes of Arrow IPC

Every step sends and receives on all links at once (one thread per direction
and peer), so exchanges larger than the kernel's socket buffers cannot
deadlock. Sockets use a ``poll_s`` timeout, so every blocked read or write
wakes to check the abort key and the deadline.
"""
from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

import pyarrow as pa

from airflow_provider_cylon.runtime.channels.base import (
    AbortWatch,
    Channel,
    ChannelAbortedError,
    ChannelContext,
    ChannelError,
)
from airflow_provider_cylon.runtime.channels.ipc import IpcDecodeError, deserialize, serialize

log = logging.getLogger(__name__)

_LEN = struct.Struct("!I")
#: Largest JSON header accepted (a header is ~60 bytes; more means a foreign peer).
_MAX_HEADER = 64 * 1024
#: Bytes handed to one send(); big enough to amortise the syscall, small enough to re-check abort.
_SEND_SLICE = 4 * 1024 * 1024
#: Socket buffer sizes requested (the kernel may clamp them).
_SOCK_BUF = 4 * 1024 * 1024
#: Protocol tag of the hello frame a dialler sends first.
_HELLO = "cylon-tcp/1"
#: Seconds an accepted connection has to send its hello.
HELLO_TIMEOUT_S = 5.0


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """Split ``"host:port"`` (``"[v6]:port"`` too) into host and port.

    :param endpoint: an endpoint returned by :meth:`TcpChannel.bind`.
    :raises ValueError: naming the endpoint when it is malformed.
    """
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"tcp endpoint {endpoint!r}: expected 'host:port'")
    return host.strip("[]"), int(port)


class TcpChannel(Channel):
    """all_to_all over one TCP connection per pair of ranks.

    Use: ``endpoint = ch.bind(host)``; publish it through the all_gather;
    ``ch.connect(endpoints)``; then ``ch.all_to_all(parts)`` any number of times.

    :param ctx: the channel context (``timeout_s`` bounds connect as well as every step).
    """

    name = "tcp"
    needs_endpoints = True

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        self._listener: socket.socket | None = None
        self._socks: dict[int, socket.socket] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._counter_lock = threading.Lock()

    # -- set-up ---------------------------------------------------------------------------------

    def bind(self, host: str = "127.0.0.1", port: int = 0, advertise_host: str | None = None) -> str:
        """Open this rank's listener; return ``"host:port"`` to publish in the all_gather.

        :param host: interface to listen on (``"0.0.0.0"`` in a container).
        :param port: port to listen on; 0 picks a free one.
        :param advertise_host: the address peers should dial, when it differs from ``host``.
        """
        if self._listener is not None:
            raise self._error("bind() called twice")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=max(8, self.ctx.world_size))
        listener.settimeout(self.ctx.poll_s)
        self._listener = listener
        bound_port = listener.getsockname()[1]
        shown = advertise_host or host
        endpoint = f"[{shown}]:{bound_port}" if ":" in shown else f"{shown}:{bound_port}"
        log.info("%s listening on %s", self.log_prefix, endpoint)
        return endpoint

    def connect(self, endpoints: Mapping[int, str] | None = None) -> None:
        """Connect to every peer: dial higher ranks, accept lower ones (each pair once).

        :param endpoints: rank -> ``"host:port"`` for every rank (defaults to ``ctx.endpoints``).
        :raises ChannelTimeoutError / ChannelAbortedError: peers unreachable in time, or abort.
        """
        ctx = self.ctx
        if ctx.world_size == 1:
            return
        endpoints = dict(endpoints if endpoints is not None else ctx.endpoints or {})
        missing = [r for r in range(ctx.world_size) if r != ctx.rank and r not in endpoints]
        if missing:
            raise self._error(f"no endpoint for ranks {missing}", peer=missing)
        if self._listener is None and ctx.rank > 0:
            raise self._error("connect() before bind(): lower ranks cannot reach this rank")
        watch = AbortWatch(ctx, step=self.step)
        errors: list[BaseException] = []
        acceptor = threading.Thread(target=self._accept_all, args=(watch, errors), daemon=True)
        acceptor.start()
        try:
            for peer in range(ctx.rank + 1, ctx.world_size):
                self._dial(peer, endpoints[peer], watch)
        except BaseException:
            watch.cancelled.set()
            raise
        finally:
            acceptor.join()
        if errors:
            raise errors[0]
        self._start_pool()
        log.info("%s connected to %d peers", self.log_prefix, len(self._socks))

    def attach(self, sockets: Mapping[int, socket.socket]) -> None:
        """Use links made elsewhere (e.g. by ``rendezvous.punch`` between Lambdas) instead of :meth:`connect`.

        Each socket must be a connected TCP stream to that peer, used by nothing
        else, with the same socket on the peer's side for this rank.

        :param sockets: peer rank -> connected socket, one for every other rank.
        """
        ctx = self.ctx
        missing = sorted(set(range(ctx.world_size)) - {ctx.rank} - set(sockets))
        if missing:
            raise self._error(f"attach() lacks sockets for ranks {missing}", peer=missing)
        for peer, sock in sockets.items():
            self._tune(sock)
            self._socks[peer] = sock
        self._start_pool()

    def _start_pool(self) -> None:
        ctx = self.ctx
        if self._pool is None and ctx.world_size > 1:
            self._pool = ThreadPoolExecutor(
                max_workers=2 * (ctx.world_size - 1), thread_name_prefix=f"cylon-tcp-r{ctx.rank}"
            )

    def _tune(self, sock: socket.socket) -> None:
        options = [(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCK_BUF), (socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCK_BUF)]
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            options.append((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1))
        for level, opt, value in options:
            try:
                sock.setsockopt(level, opt, value)
            except OSError:  # pragma: no cover - some kernels refuse; defaults still work
                pass
        sock.settimeout(self.ctx.poll_s)

    def _dial(self, peer: int, endpoint: str, watch: AbortWatch) -> None:
        host, port = parse_endpoint(endpoint)
        delay = 0.05
        while True:
            watch.check(peer, f"connecting to {endpoint}")
            try:
                sock = socket.create_connection((host, port), timeout=watch.wait_s())
                break
            except OSError as err:
                log.debug("%s dial %s (rank %d) failed: %s; retrying", self.log_prefix, endpoint, peer, err)
                time.sleep(min(delay, max(0.0, watch.remaining())))
                delay = min(delay * 2, 1.0)
        self._tune(sock)
        hello = json.dumps({"proto": _HELLO, "job": self.ctx.job_id, "src": self.ctx.rank}).encode()
        self._send_bytes(sock, _LEN.pack(len(hello)) + hello, peer, watch)
        self._socks[peer] = sock

    def _accept_all(self, watch: AbortWatch, errors: list[BaseException]) -> None:
        ctx = self.ctx
        expected = set(range(ctx.rank))
        try:
            while expected:
                watch.check(sorted(expected), "accepting connections from lower ranks")
                assert self._listener is not None
                try:
                    sock, addr = self._listener.accept()
                except TimeoutError:
                    continue
                self._tune(sock)
                # A stranger that connects and stays silent must not stall the set-up.
                hello_watch = AbortWatch(ctx, watch.step)
                hello_watch.deadline = min(watch.deadline, time.monotonic() + HELLO_TIMEOUT_S)
                try:
                    header = self._read_header(sock, None, hello_watch)
                except ChannelAbortedError:
                    sock.close()
                    raise
                except ChannelError as err:
                    log.warning("%s dropped a connection from %s: no valid hello (%s)", self.log_prefix, addr, err)
                    sock.close()
                    continue
                if header.get("proto") != _HELLO or header.get("job") != ctx.job_id:
                    log.warning("%s dropped a connection from %s: not this job (%r)", self.log_prefix, addr, header)
                    sock.close()
                    continue
                src = int(header["src"])
                if src not in expected:
                    sock.close()
                    raise ChannelError(
                        f"unexpected hello from rank {src} at {addr}", job_id=ctx.job_id, rank=ctx.rank, peer=src
                    )
                self._socks[src] = sock
                expected.discard(src)
        except BaseException as err:  # reported to connect() in the main thread
            errors.append(err)

    # -- one step -------------------------------------------------------------------------------

    def _exchange(self, step: int, parts: Sequence[pa.Table]) -> list[pa.Table | None]:
        ctx = self.ctx
        if self._pool is None or len(self._socks) != ctx.world_size - 1:
            raise self._error("tcp channel not connected: call bind() and connect(endpoints) first", step=step)
        watch = AbortWatch(ctx, step)
        out: list[pa.Table | None] = [None] * ctx.world_size
        futures: list[Future[None]] = []
        for offset in range(1, ctx.world_size):
            peer = (ctx.rank + offset) % ctx.world_size
            futures.append(self._pool.submit(self._send_part, step, peer, parts[peer], watch))
            futures.append(self._pool.submit(self._recv_part, step, (ctx.rank - offset) % ctx.world_size, out, watch))
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            watch.cancelled.set()  # siblings stop at their next wake-up
            wait(futures)
            # Links are now mid-frame: the channel cannot be used for another step.
            self._closed = True
            errors = [f.exception() for f in futures if f.exception() is not None]
            # Prefer the root cause over the "cancelled" errors it provoked.
            errors.sort(key=lambda e: "cancelled while" in str(e))
            raise errors[0]  # type: ignore[misc]
        return out

    def _send_part(self, step: int, peer: int, table: pa.Table, watch: AbortWatch) -> None:
        payload = serialize(table, self.ctx.compression)
        header = json.dumps({"step": step, "src": self.ctx.rank, "nbytes": payload.size}).encode()
        sock = self._socks[peer]
        self._send_bytes(sock, _LEN.pack(len(header)) + header, peer, watch)
        self._send_bytes(sock, memoryview(payload), peer, watch)
        with self._counter_lock:
            self.bytes_sent += payload.size

    def _recv_part(self, step: int, peer: int, out: list[pa.Table | None], watch: AbortWatch) -> None:
        sock = self._socks[peer]
        header = self._read_header(sock, peer, watch)
        try:
            msg_step, src, nbytes = int(header["step"]), int(header["src"]), int(header["nbytes"])
        except (KeyError, TypeError, ValueError) as err:
            raise self._error(f"malformed frame header {header!r}", peer=peer, step=step) from err
        if msg_step != step or src != peer or nbytes < 0:
            raise self._error(f"out-of-order frame {header!r}: expected step {step} from rank {peer}", peer=peer, step=step)
        # From pyarrow's pool (not zero-filled like a bytearray; 64-byte aligned, and
        # the table decoded from it points into it).
        buf = pa.allocate_buffer(nbytes)
        self._recv_into(sock, memoryview(buf), peer, watch)
        try:
            out[peer] = deserialize(buf)
        except IpcDecodeError as err:
            raise self._error(str(err), peer=peer, step=step) from err
        with self._counter_lock:
            self.bytes_received += nbytes

    # -- framing --------------------------------------------------------------------------------

    def _send_bytes(self, sock: socket.socket, data: bytes | memoryview, peer: int, watch: AbortWatch) -> None:
        view = memoryview(data)
        total, sent = len(view), 0
        while sent < total:
            try:
                sent += sock.send(view[sent : sent + _SEND_SLICE])
            except TimeoutError:
                watch.check(peer, f"sending to rank {peer} ({sent} of {total} bytes sent)")
            except OSError as err:
                # A peer that dies because the job was aborted: report the abort, the root cause.
                watch.check(peer, f"sending to rank {peer}", fresh=True)
                raise self._error(f"send to rank {peer} failed after {sent} of {total} bytes: {err}", peer=peer, step=watch.step) from err

    def _recv_into(self, sock: socket.socket, view: memoryview, peer: int | None, watch: AbortWatch) -> None:
        total, got = len(view), 0
        while got < total:
            try:
                n = sock.recv_into(view[got:])
            except TimeoutError:
                watch.check(peer, f"receiving from rank {peer} ({got} of {total} bytes received)")
                continue
            except OSError as err:
                watch.check(peer, f"receiving from rank {peer}", fresh=True)
                raise self._error(f"receive from rank {peer} failed after {got} of {total} bytes: {err}", peer=peer, step=watch.step) from err
            if n == 0:
                watch.check(peer, f"receiving from rank {peer}", fresh=True)
                raise self._error(f"rank {peer} closed the connection after {got} of {total} bytes (worker died?)", peer=peer, step=watch.step)
            got += n

    def _read_header(self, sock: socket.socket, peer: int | None, watch: AbortWatch) -> dict[str, object]:
        raw_len = bytearray(_LEN.size)
        self._recv_into(sock, memoryview(raw_len), peer, watch)
        (length,) = _LEN.unpack(raw_len)
        if length > _MAX_HEADER:
            raise self._error(f"frame header of {length} bytes exceeds {_MAX_HEADER}: not a cylon peer?", peer=peer, step=watch.step)
        raw = bytearray(length)
        self._recv_into(sock, memoryview(raw), peer, watch)
        try:
            header = json.loads(raw)
        except ValueError as err:
            raise self._error(f"frame header is not JSON: {bytes(raw[:200])!r}", peer=peer, step=watch.step) from err
        if not isinstance(header, dict):
            raise self._error(f"frame header is not a JSON object: {header!r}", peer=peer, step=watch.step)
        return header

    def close(self) -> None:
        """Close every link, the listener and the transfer threads."""
        super().close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for sock in self._socks.values():
            try:
                sock.close()
            except OSError:  # pragma: no cover
                pass
        self._socks.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
