"""The tcp-punch channel: direct worker-to-worker TCP links for Lambdas, made by hole punching.

Lambda functions accept no inbound connections, so the plain ``tcp`` channel
cannot be used there. This channel asks the rendezvous server
(:mod:`airflow_provider_cylon.runtime.rendezvous`) to pair every two ranks
and opens the link by a simultaneous connect from the port the server saw.
Once linked, frames are the ``tcp`` channel's (same framing, same threads, same
abort and deadline checks): only the way links are made differs.

Punching can fail (a symmetric NAT, a firewall, an unreachable server). All
ranks must then agree on one transport, or a rank sending over a socket would
wait forever for a rank sending through Redis. So after punching, every rank
records its outcome under ``cylon:{job}:ch:punch`` and waits for everyone's: if
every link of every rank is up, the job uses them; otherwise every rank falls
back to the ``redis`` channel. The choice is logged with the reason.

Configuration (the channel is built by ``make_channel(name, ctx)``, so it reads
the environment, which ``cylon-airflow deploy`` sets on the Lambda function):

``CYLON_RENDEZVOUS``        ``host:port`` of the rendezvous server, or several separated by
                            commas: pairs are sharded over them by a hash of the pair name,
                            so both peers of a pair meet on the same server (none: use redis)
``CYLON_RENDEZVOUS_TOKEN``  shared token, if the server requires one (a secret: never logged)
``CYLON_PUNCH_TIMEOUT_S``   deadline for all links of one rank (default 20 s)
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base

from airflow_provider_cylon.runtime import rendezvous
from airflow_provider_cylon.runtime.channels.base import AbortWatch, ChannelContext, ChannelError, abort_wake_key
from airflow_provider_cylon.runtime.channels.redis import RedisChannel
from airflow_provider_cylon.runtime.channels.tcp import TcpChannel, parse_endpoint
from airflow_provider_cylon.runtime.protocol import ARRIVE_LUA

log = logging.getLogger(__name__)

RENDEZVOUS_ENV = "CYLON_RENDEZVOUS"
TOKEN_ENV = "CYLON_RENDEZVOUS_TOKEN"
TIMEOUT_ENV = "CYLON_PUNCH_TIMEOUT_S"
_HELLO = "cylon-punch/1"
#: Most links one rank punches at once (each holds a thread and a rendezvous connection).
MAX_PARALLEL_PUNCHES = 32


class stop_before_deadline(stop_base):  # noqa: N801 - named like tenacity's own stop conditions
    """Stop retrying once a monotonic deadline has passed.

    :param deadline: ``time.monotonic()`` value after which no attempt starts.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: object) -> bool:
        return time.monotonic() >= self.deadline - 0.05


class TcpPunchChannel(TcpChannel):
    """all_to_all over hole-punched TCP links, falling back to Redis when punching fails.

    :param ctx: the channel context.
    :param rendezvous_addr: ``host:port`` of the rendezvous server (default: ``$CYLON_RENDEZVOUS``).
    :param token: the server's shared token (default: ``$CYLON_RENDEZVOUS_TOKEN``).
    :param punch_timeout_s: deadline for all of this rank's links (default:
        ``$CYLON_PUNCH_TIMEOUT_S`` or 20 s, and never more than ``ctx.timeout_s``).
    :param attempts: punches tried per link within the deadline.
    :param bind_host: local address the punched sockets bind (all interfaces by default).
    """

    name = "tcp-punch"
    needs_endpoints = False  # peers meet by pair name on the rendezvous server

    def __init__(
        self,
        ctx: ChannelContext,
        *,
        rendezvous_addr: str | None = None,
        token: str | None = None,
        punch_timeout_s: float | None = None,
        attempts: int = 6,
        bind_host: str = "0.0.0.0",
    ) -> None:
        super().__init__(ctx)
        self.rendezvous_addr = rendezvous_addr if rendezvous_addr is not None else os.environ.get(RENDEZVOUS_ENV)
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        if punch_timeout_s is None:
            punch_timeout_s = float(os.environ.get(TIMEOUT_ENV, "20"))
        self.punch_timeout_s = min(punch_timeout_s, ctx.timeout_s)
        self.attempts = max(1, attempts)
        self.bind_host = bind_host
        #: ``"tcp-punch"`` once every link is up, ``"redis"`` after a fallback; ``None`` before connect().
        self.transport: str | None = None
        self.fallback_reason: str | None = None
        self._fallback: RedisChannel | None = None

    # -- set-up ---------------------------------------------------------------------------------

    def bind(self, host: str = "0.0.0.0", port: int = 0, advertise_host: str | None = None) -> None:  # type: ignore[override]
        """Nothing to listen on: links are made through the rendezvous server in :meth:`connect`."""
        return None

    def connect(self, endpoints: Mapping[int, str] | None = None) -> None:
        """Punch a link to every peer; agree with all ranks on tcp-punch or the redis fallback.

        :param endpoints: unused (peers are found by pair name on the rendezvous server).
        :raises ChannelTimeoutError / ChannelAbortedError: the ranks did not agree in time, or abort.
        """
        ctx = self.ctx
        if ctx.world_size == 1:
            self.transport = self.name
            return
        started = time.monotonic()
        failure = self._punch_all()
        outcome = {"ok": failure is None, "error": failure or ""}
        reason = self._agree(outcome)
        if reason is None:
            self.transport = self.name
            self._pool = ThreadPoolExecutor(
                max_workers=2 * (ctx.world_size - 1), thread_name_prefix=f"cylon-punch-r{ctx.rank}"
            )
            log.info("%s using tcp-punch: %d direct links in %.2fs", self.log_prefix, len(self._socks),
                     time.monotonic() - started)
            return
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
        self.transport = "redis"
        self.fallback_reason = reason
        self._fallback = RedisChannel(ctx)
        log.warning("%s falling back to the redis channel: %s", self.log_prefix, reason)

    def _servers(self) -> list[tuple[str, int]]:
        assert self.rendezvous_addr is not None
        return [parse_endpoint(a.strip()) for a in self.rendezvous_addr.split(",") if a.strip()]

    def _server_for(self, pair: str) -> tuple[str, int]:
        """The server both peers of ``pair`` use (a stable hash: every process agrees)."""
        servers = self._servers()
        return servers[zlib.crc32(pair.encode()) % len(servers)]

    def _pair_name(self, a: int, b: int) -> str:
        lo, hi = min(a, b), max(a, b)
        return f"cylon/{self.ctx.job_id}/{lo}-{hi}"

    def _punch_all(self) -> str | None:
        """Punch every link of this rank; return why it failed, or ``None``."""
        ctx = self.ctx
        if not self.rendezvous_addr:
            return f"no rendezvous server configured (${RENDEZVOUS_ENV} is unset)"
        try:
            if not self._servers():
                return f"${RENDEZVOUS_ENV}={self.rendezvous_addr!r} names no server"
        except ValueError as err:
            return str(err)
        deadline = time.monotonic() + self.punch_timeout_s
        # Peers in one global order of pairs (by lower rank, then higher): with a
        # bounded pool, the smallest unfinished pair is always being worked on at
        # both ends, so no cycle of ranks can wait on each other.
        peers = sorted((p for p in range(ctx.world_size) if p != ctx.rank),
                       key=lambda p: (min(p, ctx.rank), max(p, ctx.rank)))
        errors: dict[int, str] = {}
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PUNCHES, len(peers)),
                                thread_name_prefix=f"cylon-punching-r{ctx.rank}") as pool:
            futures = {p: pool.submit(self._link, p, deadline) for p in peers}
            for peer, fut in futures.items():
                try:
                    self._socks[peer] = fut.result()
                except (rendezvous.PunchError, ChannelError, OSError) as err:
                    errors[peer] = str(err)
        if errors:
            first = min(errors)
            return f"rank {ctx.rank} could not link to ranks {sorted(errors)} (rank {first}: {errors[first]})"
        return None

    def _link(self, peer: int, deadline: float) -> socket.socket:
        """One link: register the pair, connect simultaneously, exchange and check hellos.

        Failed attempts are retried with jittered exponential backoff (a server that is
        restarting, a peer still starting) until ``attempts`` or the deadline runs out.
        """
        pair = self._pair_name(self.ctx.rank, peer)
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_before_deadline(deadline),
            wait=wait_random_exponential(multiplier=0.1, max=2.0),
            retry=retry_if_exception_type((rendezvous.PunchError, ChannelError, OSError)),
            before_sleep=lambda state: log.debug(
                "%s punch to rank %d attempt %d failed: %s", self.log_prefix, peer, state.attempt_number,
                state.outcome.exception() if state.outcome else None),
            reraise=True,
        )
        try:
            return retrying(self._attempt, pair, peer, deadline)
        except (rendezvous.PunchError, ChannelError, OSError) as err:
            raise rendezvous.PunchError(f"no link to rank {peer} after {self.attempts} attempts: {err}",
                                        job_id=self.ctx.job_id, rank=self.ctx.rank) from err

    def _attempt(self, pair: str, peer: int, deadline: float) -> socket.socket:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise rendezvous.PunchError(f"pair {pair!r}: punch deadline of {self.punch_timeout_s:g} s passed")
        sock = rendezvous.punch(self._server_for(pair), pair, token=self._token, timeout_s=remaining,
                                bind_host=self.bind_host)
        try:
            self._tune(sock)
            self._hello(sock, peer)
        except BaseException:
            sock.close()
            raise
        return sock

    def _hello(self, sock: socket.socket, peer: int) -> None:
        """Both ends say who they are; a stranger on our port is refused."""
        ctx = self.ctx
        watch = AbortWatch(ctx, step=self.step)
        hello = json.dumps({"proto": _HELLO, "job": ctx.job_id, "src": ctx.rank}).encode()
        self._send_bytes(sock, len(hello).to_bytes(4, "big") + hello, peer, watch)
        header = self._read_header(sock, peer, watch)
        if header.get("proto") != _HELLO or header.get("job") != ctx.job_id or header.get("src") != peer:
            raise ChannelError(f"punched link answered {header!r}, expected rank {peer} of this job",
                               job_id=ctx.job_id, rank=ctx.rank, peer=peer)

    def _agree(self, outcome: dict[str, object]) -> str | None:
        """Publish this rank's outcome, wait for every rank's; return a fallback reason or ``None``.

        O(1) commands and bytes per rank when every link is up: a rank records its outcome
        in ``ch:punch`` and arrives there (the last arrival wakes the others through one
        list, :data:`ARRIVE_LUA`), then reads one count. Each rank reading every outcome
        (and polling for them) cost O(W) bytes per read, O(W^2) per job. Only after a
        failure are the failed ranks read: their first 20 and the one outcome that names
        the first cause.
        """
        ctx = self.ctx
        key = f"{ctx.key_prefix}punch"
        failed, causes, wake = f"{key}:failed", f"{key}:causes", f"{key}:wake"
        pipe = ctx.redis.pipeline(transaction=False)
        if not outcome["ok"]:
            pipe.zadd(failed, {str(ctx.rank): ctx.rank})
            # The peers of a failing rank only see their partner never come: not a cause.
            if "no peer within" not in str(outcome["error"]):
                pipe.zadd(causes, {str(ctx.rank): ctx.rank})
            pipe.expire(failed, ctx.ttl_s)
            pipe.expire(causes, ctx.ttl_s)
        pipe.execute()
        arrive = ctx.redis.register_script(ARRIVE_LUA)
        arrive(keys=[key, wake], args=["hash", ctx.rank, json.dumps(outcome), ctx.world_size, ctx.ttl_s,
                                       ctx.world_size])
        watch = AbortWatch(ctx, step=self.step)
        abort_wake = abort_wake_key(ctx.job_id, ctx.rank)
        while int(ctx.redis.hlen(key)) < ctx.world_size:
            watch.check(None, "waiting for every rank's punch outcome")
            ctx.redis.blpop([wake, abort_wake], timeout=watch.wait_s())
        count = int(ctx.redis.zcard(failed))
        if not count:
            return None
        first = (ctx.redis.zrange(causes, 0, 0) or ctx.redis.zrange(failed, 0, 0))[0]
        cause = json.loads(ctx.redis.hget(key, first) or b"{}").get("error", "")
        shown = [int(r) for r in ctx.redis.zrange(failed, 0, 19)]
        ranks = ", ".join(map(str, shown)) + (f", ... ({count} in all)" if count > len(shown) else "")
        return f"ranks [{ranks}] of {ctx.world_size} could not punch all links; first cause: {cause}"

    # -- one step -------------------------------------------------------------------------------

    def _exchange(self, step: int, parts: Sequence[pa.Table]) -> list[pa.Table | None]:
        if self._fallback is not None:
            sent, received = self._fallback.bytes_sent, self._fallback.bytes_received
            out = self._fallback._exchange(step, parts)
            self.bytes_sent += self._fallback.bytes_sent - sent
            self.bytes_received += self._fallback.bytes_received - received
            return out
        if self.transport is None:
            raise ChannelError("tcp-punch channel not connected: call connect() first",
                               job_id=self.ctx.job_id, rank=self.ctx.rank, step=step)
        return super()._exchange(step, parts)

    def close(self) -> None:
        """Close the punched links (or the fallback channel)."""
        if self._fallback is not None:
            self._fallback.close()
        super().close()
