"""Arrow IPC stream (de)serialisation of one partition: the only bytes a channel puts on a wire.

A partition travels as one Arrow IPC *stream* (schema message, record batches,
end-of-stream marker), so an empty table still carries its schema. Buffer
compression (LZ4 frame or ZSTD) is Arrow's own IPC body compression: readers
need no option to decode it. Uncompressed streams are read zero-copy: the
returned table points into the received buffer.
"""
from __future__ import annotations

import pyarrow as pa

#: Accepted values of ``ChannelContext.compression``.
COMPRESSIONS: frozenset[str | None] = frozenset({None, "lz4", "zstd"})


class IpcDecodeError(ValueError):
    """Bytes received by a channel are not a valid Arrow IPC stream."""


def write_options(compression: str | None) -> pa.ipc.IpcWriteOptions:
    """IPC write options for a channel compression setting.

    :param compression: ``None``, ``"lz4"`` or ``"zstd"``.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression: expected None, 'lz4' or 'zstd', got {compression!r}")
    # use_threads: compress the columns of a batch in parallel (pyarrow's pool).
    return pa.ipc.IpcWriteOptions(compression=compression, use_threads=compression is not None)


def serialize(table: pa.Table, compression: str | None = None) -> pa.Buffer:
    """Encode ``table`` as one Arrow IPC stream.

    :param table: the partition.
    :param compression: ``None``, ``"lz4"`` or ``"zstd"``.
    :returns: a buffer that supports the buffer protocol (``memoryview(buf)``).
    """
    options = write_options(compression)
    if compression is None:
        # Size first (a mock sink counts bytes, copies nothing), then one buffer of
        # exactly that size: a growing BufferOutputStream reallocates and copies as
        # it doubles, about twice the partition in fresh memory and copies.
        mock = pa.MockOutputStream()
        _write(mock, table, options)
        buf = pa.allocate_buffer(mock.size())
        _write(pa.FixedSizeBufferWriter(buf), table, options)
        return buf
    sink = pa.BufferOutputStream()
    _write(sink, table, options)
    return sink.getvalue()


def _write(sink: pa.NativeFile, table: pa.Table, options: pa.ipc.IpcWriteOptions) -> None:
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)


def deserialize(data: bytes | bytearray | memoryview | pa.Buffer) -> pa.Table:
    """Decode one Arrow IPC stream written by :func:`serialize`.

    :param data: the received bytes (kept alive by the returned table when uncompressed).
    :raises IpcDecodeError: the bytes are not a complete IPC stream.
    """
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    try:
        with pa.ipc.open_stream(buf) as reader:
            return reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as err:
        raise IpcDecodeError(f"not a valid Arrow IPC stream ({buf.size} bytes): {err}") from err
