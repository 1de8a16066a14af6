"""The s3 channel: partitions through object storage (any pyarrow filesystem).

The Starling/Lambada layout: per step, each sender writes ONE object holding
its partitions for every destination back to back (W objects per step, not
W squared), then tells each destination where its byte range is::

    {base}/cylon-{job}-s{step:06d}/r{src:05d}.arrows   Arrow IPC streams, one per destination
    cylon:{job}:ch:{step}:s3w:{dst}   (Redis list)     RPUSH {"src", "path", "offset", "nbytes"}
    cylon:{job}:ch:{step}:s3r         (Redis counter)  ranks done reading the step

A receiver BLPOPs its wake list, reads only its ranges (one ranged GET each on
S3, ``pread`` on local files), decodes them, and once all its reads of the step
are done counts itself on the step's counter; the last of the ``world_size``
ranks deletes the step's folder (one listing and one batched ``DeleteObjects``
per 1,000 objects, where a delete per object cost a HEAD, a DELETE and a
re-created folder marker each: 3 W requests a step) and the counter. Per step
that is W objects written (small ones in one PUT: :func:`storage.resolve` opens
S3 with delayed opens, no multipart upload), W(W-1) ranged reads (each with the
HEAD pyarrow makes to learn the size), O(1) deletes, and O(W) Redis commands
besides the W(W-1) wake-ups. Redis keys carry the TTL; a failed step's folder is
removed by :func:`purge_objects` (or a bucket lifecycle rule on the prefix).

The step folders sit directly under ``base``; deleting one makes pyarrow write
an empty marker for ``base`` itself (one key, re-written each step), which the
default base (inside the job's staging folder) loses with the staging folder.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

import pyarrow as pa
import redis
from pyarrow import fs as pafs

from airflow_provider_cylon.runtime.channels.base import (
    AbortWatch,
    Channel,
    ChannelContext,
    ChannelError,
)
from airflow_provider_cylon.runtime.channels.ipc import IpcDecodeError, deserialize, serialize

log = logging.getLogger(__name__)

#: Parallel ranged reads per rank (object stores reward concurrency; a few suffice).
_MAX_READERS = 8


def resolve_storage(ctx: ChannelContext) -> tuple[pafs.FileSystem, str]:
    """The filesystem and base path the s3 channel writes under.

    :param ctx: uses ``filesystem`` and ``storage_path``.
    :raises ValueError: naming ``storage_path`` when it is missing or not a filesystem URI.
    """
    if not ctx.storage_path:
        raise ValueError("ChannelContext.storage_path: the s3 channel needs a location, e.g. 's3://bucket/prefix'")
    if ctx.filesystem is not None:
        return ctx.filesystem, ctx.storage_path.rstrip("/")
    try:
        filesystem, base = pafs.FileSystem.from_uri(ctx.storage_path)
    except (pa.ArrowInvalid, ValueError, TypeError) as err:
        raise ValueError(f"ChannelContext.storage_path {ctx.storage_path!r}: not a filesystem URI ({err})") from err
    return filesystem, base.rstrip("/")


def object_name_prefix(job_id: str) -> str:
    """File-name prefix of every step object of one job (under the channel's base path)."""
    return f"cylon-{job_id}-s"


def purge_objects(ctx: ChannelContext) -> int:
    """Delete every step folder (or object) of the job (after a failure; a clean run leaves none).

    Lists ``storage_path`` (one level) and removes the job's entries.

    :param ctx: the job's channel context (``filesystem``/``storage_path``).
    :returns: how many step folders or objects were deleted.
    """
    filesystem, base = resolve_storage(ctx)
    try:
        infos = filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except FileNotFoundError:
        return 0
    prefix = object_name_prefix(ctx.job_id)
    doomed = [i for i in infos if i.base_name.startswith(prefix)]
    for info in doomed:
        try:
            if info.type == pafs.FileType.Directory:
                filesystem.delete_dir(info.path)
            else:
                filesystem.delete_file(info.path)
        except FileNotFoundError:
            pass
    return len(doomed)


class S3Channel(Channel):
    """all_to_all through one object per sender per step and ranged reads.

    :param ctx: the channel context (``filesystem``/``storage_path``, ``redis`` for wake-ups).
    """

    name = "s3"

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        try:
            self._fs, self._base = resolve_storage(ctx)
        except ValueError as err:
            raise self._error(str(err)) from err
        # Object stores have no directories; a local filesystem needs one per step.
        self._needs_dir = self._fs.type_name == "local"
        self._pool: ThreadPoolExecutor | None = None
        self._counter_lock = threading.Lock()

    def _step_dir(self, step: int) -> str:
        return f"{self._base}/{object_name_prefix(self.ctx.job_id)}{step:06d}"

    def _object_path(self, step: int, src: int) -> str:
        return f"{self._step_dir(step)}/r{src:05d}.arrows"

    def _wake_key(self, step: int, dst: int) -> str:
        return f"{self.ctx.key_prefix}{step}:s3w:{dst}"

    def _readers_key(self, step: int) -> str:
        return f"{self.ctx.key_prefix}{step}:s3r"

    def _exchange(self, step: int, parts: Sequence[pa.Table]) -> list[pa.Table | None]:
        try:
            self._write(step, parts)
            return self._receive(step)
        except redis.RedisError as err:
            raise self._error(f"Redis failed during the exchange: {type(err).__name__}: {err}", step=step) from err

    def _write(self, step: int, parts: Sequence[pa.Table]) -> None:
        ctx = self.ctx
        path = self._object_path(step, ctx.rank)
        ranges: dict[int, tuple[int, int]] = {}
        offset = 0
        try:
            if self._needs_dir:
                self._fs.create_dir(self._step_dir(step), recursive=True)
            with self._fs.open_output_stream(path) as out:
                for k in range(1, ctx.world_size):
                    dst = (ctx.rank + k) % ctx.world_size
                    payload = serialize(parts[dst], ctx.compression)
                    out.write(payload)
                    ranges[dst] = (offset, payload.size)
                    offset += payload.size
        except (OSError, pa.ArrowException) as err:
            raise self._error(f"writing step object {path!r} ({offset} bytes so far) failed: {err}", step=step) from err
        pipe = ctx.redis.pipeline(transaction=False)
        for dst, (start, nbytes) in ranges.items():
            wake = self._wake_key(step, dst)
            msg = {"step": step, "src": ctx.rank, "path": path, "offset": start, "nbytes": nbytes}
            pipe.rpush(wake, json.dumps(msg))
            pipe.expire(wake, ctx.ttl_s)
        pipe.execute()
        self.bytes_sent += offset

    def _receive(self, step: int) -> list[pa.Table | None]:
        ctx = self.ctx
        watch = AbortWatch(ctx, step)
        out: list[pa.Table | None] = [None] * ctx.world_size
        unannounced = set(range(ctx.world_size)) - {ctx.rank}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=min(_MAX_READERS, ctx.world_size - 1), thread_name_prefix=f"cylon-s3-r{ctx.rank}"
            )
        reads: dict[Future[None], int] = {}
        wake = self._wake_key(step, ctx.rank)
        try:
            for payload in self._wakes(watch, wake, unannounced, "step objects",
                                       before_wait=lambda: self._raise_failed(reads)):
                msg = self._parse_wake(step, payload, unannounced)
                unannounced.discard(msg["src"])
                reads[self._pool.submit(self._read, step, msg, out)] = msg["src"]
            while True:
                _, running = wait(reads, timeout=watch.wait_s(), return_when=FIRST_EXCEPTION)
                self._raise_failed(reads)
                if not running:
                    break
                watch.check(sorted(reads[f] for f in running), "reading step objects")
        except BaseException:
            watch.cancelled.set()
            raise
        self._done_reading(step)
        return out

    def _done_reading(self, step: int) -> None:
        """Count this rank as done with the step; the last rank deletes the step's objects."""
        ctx = self.ctx
        readers = self._readers_key(step)
        pipe = ctx.redis.pipeline(transaction=False)
        pipe.incr(readers)
        pipe.expire(readers, ctx.ttl_s)
        if int(pipe.execute()[0]) < ctx.world_size:
            return
        try:
            self._fs.delete_dir(self._step_dir(step))
        except FileNotFoundError:
            pass
        except (OSError, pa.ArrowException) as err:  # the data is read: leftovers cost storage, not results
            log.warning("%s could not delete step %d's objects under %s: %s", self.log_prefix, step,
                        self._step_dir(step), err)
        ctx.redis.delete(readers)

    @staticmethod
    def _raise_failed(reads: dict[Future[None], int]) -> None:
        for future in reads:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def _read(self, step: int, msg: dict[str, int | str], out: list[pa.Table | None]) -> None:
        src, path = int(msg["src"]), str(msg["path"])
        offset, nbytes = int(msg["offset"]), int(msg["nbytes"])
        try:
            with self._fs.open_input_file(path) as handle:
                handle.seek(offset)
                data = handle.read_buffer(nbytes)
        except (OSError, pa.ArrowException) as err:
            raise self._error(f"reading bytes {offset}..{offset + nbytes} of {path!r} failed: {err}", peer=src, step=step) from err
        if data.size != nbytes:
            raise self._error(f"read {data.size} bytes at offset {offset} of {path!r}, the sender announced {nbytes}", peer=src, step=step)
        try:
            out[src] = deserialize(data)
        except IpcDecodeError as err:
            raise self._error(str(err), peer=src, step=step) from err
        with self._counter_lock:
            self.bytes_received += nbytes

    def _parse_wake(self, step: int, raw: bytes, pending: set[int]) -> dict[str, int | str]:
        ctx = self.ctx
        try:
            msg = json.loads(raw)
            parsed: dict[str, int | str] = {
                "src": int(msg["src"]),
                "path": str(msg["path"]),
                "offset": int(msg["offset"]),
                "nbytes": int(msg["nbytes"]),
            }
            msg_step = int(msg["step"])
        except (ValueError, KeyError, TypeError) as err:
            raise ChannelError(
                f"malformed wake-up message {raw[:200]!r}: {err}", job_id=ctx.job_id, rank=ctx.rank, step=step
            ) from err
        if msg_step != step or parsed["src"] not in pending:
            raise self._error(f"unexpected wake-up message {raw[:200]!r}: expected step {step} from one of {sorted(pending)}", peer=int(parsed["src"]), step=step)
        return parsed

    def close(self) -> None:
        """Stop the reader threads."""
        super().close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
