"""The redis channel: partitions travel through Redis values; the default for AWS Lambda.

Lambda functions cannot accept connections, but all of them can reach the job's
Redis. For step ``s`` the sender writes, in one pipeline per destination::

    cylon:{job}:ch:{s}:d:{src}:{dst}:{i}   Arrow IPC bytes, chunk i (<= chunk_bytes), TTL
    cylon:{job}:ch:{s}:w:{dst}             RPUSH {"src", "chunks", "nbytes"}, TTL

The receiver BLPOPs its wake list (a short timeout, to re-check the abort key
and the deadline), reads the announced chunks with GETDEL (read and delete in
one round trip) and decodes them. A completed step leaves no key behind: the
wake list is empty (Redis drops it) and every chunk was deleted by its reader.
After a failure, the TTL removes what is left.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import pyarrow as pa
import redis

from airflow_provider_cylon.runtime.channels.base import (
    DEFAULT_CHUNK_BYTES,
    AbortWatch,
    Channel,
    ChannelError,
)
from airflow_provider_cylon.runtime.channels.ipc import IpcDecodeError, deserialize, serialize

log = logging.getLogger(__name__)

#: Most bytes of chunks fetched in one pipeline by a receiver (bounds its peak memory).
FETCH_BATCH_BYTES = DEFAULT_CHUNK_BYTES


class RedisChannel(Channel):
    """all_to_all through Redis values, chunked to ``ctx.chunk_bytes``, woken by BLPOP.

    :param ctx: the channel context (``redis``, ``compression``, ``chunk_bytes``, ``ttl_s``).
    """

    name = "redis"

    def _data_key(self, step: int, src: int, dst: int, chunk: int) -> str:
        return f"{self.ctx.key_prefix}{step}:d:{src}:{dst}:{chunk}"

    def _wake_key(self, step: int, dst: int) -> str:
        return f"{self.ctx.key_prefix}{step}:w:{dst}"

    def _exchange(self, step: int, parts: Sequence[pa.Table]) -> list[pa.Table | None]:
        ctx = self.ctx
        try:
            for offset in range(1, ctx.world_size):
                # Rotate destinations so that ranks do not all write to rank 0 first.
                self._send(step, (ctx.rank + offset) % ctx.world_size, parts)
            return self._receive(step)
        except redis.RedisError as err:
            raise self._error(f"Redis failed during the exchange: {type(err).__name__}: {err}", step=step) from err

    def _send(self, step: int, dst: int, parts: Sequence[pa.Table]) -> None:
        ctx = self.ctx
        payload = memoryview(serialize(parts[dst], ctx.compression))
        nbytes = len(payload)
        chunk = ctx.chunk_bytes
        count = max(1, -(-nbytes // chunk))
        pipe = ctx.redis.pipeline(transaction=False)
        for i in range(count):
            pipe.set(self._data_key(step, ctx.rank, dst, i), payload[i * chunk : (i + 1) * chunk], ex=ctx.ttl_s)
        wake = self._wake_key(step, dst)
        pipe.rpush(wake, json.dumps({"step": step, "src": ctx.rank, "chunks": count, "nbytes": nbytes}))
        pipe.expire(wake, ctx.ttl_s)
        pipe.execute()
        self.bytes_sent += nbytes

    def _receive(self, step: int) -> list[pa.Table | None]:
        ctx = self.ctx
        watch = AbortWatch(ctx, step)
        out: list[pa.Table | None] = [None] * ctx.world_size
        pending = set(range(ctx.world_size)) - {ctx.rank}
        wake = self._wake_key(step, ctx.rank)
        for payload in self._wakes(watch, wake, pending, "partitions"):
            src, count, nbytes = self._parse_wake(step, payload, pending)
            data = self._fetch(step, src, count, nbytes)
            try:
                out[src] = deserialize(data)
            except IpcDecodeError as err:
                raise self._error(str(err), peer=src, step=step) from err
            self.bytes_received += nbytes
            pending.discard(src)
        return out

    def _fetch(self, step: int, src: int, count: int, nbytes: int) -> bytes | bytearray:
        """Read and delete the ``count`` chunks ``src`` announced; return the joined bytes.

        Chunks are fetched in batches of at most ``FETCH_BATCH_BYTES`` and copied
        into one buffer as they arrive, so peak memory is the partition plus one batch
        (not twice the partition, as with a join at the end).
        """
        ctx = self.ctx
        per_batch = max(1, FETCH_BATCH_BYTES // ctx.chunk_bytes)
        buf: bytes | bytearray = bytearray(nbytes) if count > 1 else b""
        filled = 0
        for first in range(0, count, per_batch):
            pipe = ctx.redis.pipeline(transaction=False)
            for i in range(first, min(count, first + per_batch)):
                pipe.getdel(self._data_key(step, src, ctx.rank, i))
            chunks = pipe.execute()
            missing = [first + i for i, c in enumerate(chunks) if c is None]
            if missing:
                raise ChannelError(
                    f"chunks {missing} of {count} announced by the sender are missing "
                    f"(expired after ttl_s={ctx.ttl_s}, or deleted by another reader)",
                    job_id=ctx.job_id,
                    rank=ctx.rank,
                    peer=src,
                    step=step,
                )
            if count == 1:
                buf = chunks[0]
                filled = len(buf)
                break
            for chunk in chunks:
                end = filled + len(chunk)
                if end <= nbytes:
                    buf[filled:end] = chunk  # type: ignore[index]
                filled = end
            del chunks
        if filled != nbytes:
            raise self._error(f"received {filled} bytes, the sender announced {nbytes}", peer=src, step=step)
        return buf

    def _parse_wake(self, step: int, raw: bytes, pending: set[int]) -> tuple[int, int, int]:
        ctx = self.ctx
        try:
            msg = json.loads(raw)
            src, count, nbytes = int(msg["src"]), int(msg["chunks"]), int(msg["nbytes"])
            msg_step = int(msg["step"])
        except (ValueError, KeyError, TypeError) as err:
            raise ChannelError(
                f"malformed wake-up message {raw[:200]!r}: {err}", job_id=ctx.job_id, rank=ctx.rank, step=step
            ) from err
        if msg_step != step or src not in pending:
            raise self._error(f"unexpected wake-up message {raw[:200]!r}: expected step {step} from one of {sorted(pending)}", peer=src, step=step)
        return src, count, nbytes
