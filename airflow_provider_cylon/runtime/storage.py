"""Read inputs and commit outputs on local paths, ``file://`` and ``s3://`` (pyarrow.fs).

Reading: an input is a file, a directory/prefix or a glob; Parquet, CSV and Arrow
IPC by extension. The files (and Parquet row groups) are cut into ``world_size``
contiguous ranges of about equal bytes, so every rank computes the same plan from
the same listing and the ranks in order hold the input in its natural order. A
directory that holds a ``_SUCCESS`` manifest is read through it (only the files
it lists), so a reader never mixes two outputs.

Writing: each rank writes ``part-{rank:05d}.{ext}`` under
``{destination}/_staging/{job_id}/``. After the barrier rank 0 commits:

1. moves every staged part to ``{destination}/part-{rank:05d}-{token}.{ext}``
   (``token`` from the job id, so new files never overwrite the previous output's),
2. writes the ``_SUCCESS`` manifest (one atomic object / ``rename``),
3. only then removes the previous output's part files and the staging prefix.

A job that fails before step 2 leaves the previous output and manifest intact.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import posixpath
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow_hotfix  # noqa: F401  (blocks the pyarrow extension-type deserialisation CVE on every read)
from pyarrow import csv as pacsv
from pyarrow import fs as pafs
from pyarrow import ipc as paipc
from pyarrow import parquet as pq

from airflow_provider_cylon.runtime.dictionary_read import apply_predicate, as_declared
from airflow_provider_cylon.runtime.dictionary_read import dictionary_columns as dictionary_columns_to_read
from airflow_provider_cylon.runtime.fixed_dictionary_read import read_filtered
from airflow_provider_cylon.runtime.errors import StorageError
from airflow_provider_cylon.runtime.parquet_encoding import dictionary_columns
from airflow_provider_cylon.runtime.spec import InputSpec, OutputSpec, StorageOptions, format_of

log = logging.getLogger(__name__)

MANIFEST_NAME = "_SUCCESS"
STAGING_DIR = "_staging"
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "arrow": "arrow"}
_DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz", ".arrow", ".feather", ".ipc")
_GLOB_CHARS = "*?["
# Empty CSV fields are NULL for strings too, as in DuckDB/SQL engines (pyarrow's default reads "").
_CSV_CONVERT = pacsv.ConvertOptions(strings_can_be_null=True)


# -- filesystems -------------------------------------------------------------------------------
def resolve(path: str, options: StorageOptions | None = None) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path inside it for a user path.

    :param path: ``s3://bucket/key``, ``file:///abs``, or a plain (relative or absolute) local path.
    :param options: non-secret S3 settings (endpoint override, region, scheme);
        credentials come from the environment (``AWS_ACCESS_KEY_ID``, roles, ...).
    """
    options = options or StorageOptions()
    parts = urlsplit(path)
    if parts.scheme == "s3":
        # Delayed open: an object smaller than one upload part goes up in ONE PutObject;
        # otherwise pyarrow opens a multipart upload for every file (3 requests: create,
        # part, complete), which tripled the s3 channel's PUT-class requests per step.
        kwargs: dict[str, Any] = {"allow_delayed_open": True}
        if options.endpoint_override:
            kwargs["endpoint_override"] = options.endpoint_override
        if options.scheme:
            kwargs["scheme"] = options.scheme
        if options.region:
            kwargs["region"] = options.region
        if options.anonymous:
            kwargs["anonymous"] = True
        if options.force_virtual_addressing:
            kwargs["force_virtual_addressing"] = True
        try:
            filesystem = pafs.S3FileSystem(**kwargs)
        except (pa.ArrowException, ValueError) as err:
            raise StorageError(f"cannot open S3 for {path!r}: {err}") from err
        return filesystem, (parts.netloc + parts.path).rstrip("/")
    if parts.scheme == "file":
        return pafs.LocalFileSystem(), os.path.abspath(parts.path)
    if parts.scheme and len(parts.scheme) > 1:
        raise StorageError(f"unsupported scheme {parts.scheme!r} in path {path!r}; expected s3://, file:// or a local path")
    return pafs.LocalFileSystem(), os.path.abspath(path)


def _join(base: str, *names: str) -> str:
    # pyarrow.fs paths are "/"-separated on every filesystem (local ones included).
    return posixpath.join(base, *names)


def _is_data_file(path: str) -> bool:
    name = posixpath.basename(path)
    return not name.startswith(("_", ".")) and name.lower().endswith(_DATA_SUFFIXES)


def _info(filesystem: pafs.FileSystem, path: str) -> pafs.FileInfo:
    try:
        return filesystem.get_file_info(path)
    except (OSError, pa.ArrowException) as err:
        raise StorageError(f"cannot stat {path!r}: {err}") from err


# -- listing and planning --------------------------------------------------------------------
@dataclass(frozen=True)
class FileEntry:
    """One input file.

    :param path: path inside the filesystem.
    :param size: bytes.
    :param format: ``parquet|csv|arrow``.
    """

    path: str
    size: int
    format: str


@dataclass(frozen=True)
class ReadUnit:
    """A piece of input read by one rank: a whole file or one Parquet row group.

    :param path: file path inside the filesystem.
    :param format: ``parquet|csv|arrow``.
    :param size: bytes (compressed, as stored).
    :param row_group: Parquet row group index, or ``None`` for the whole file.
    :param metadata: the file's Parquet footer when planning read it (the reader reuses it:
        one footer request per file, not two).
    """

    path: str
    format: str
    size: int
    row_group: int | None = None
    metadata: Any = field(default=None, compare=False, repr=False)


def our_previous_output(destination: str, options: StorageOptions | None = None) -> tuple[list[str], list[str]]:
    """(files the previous ``_SUCCESS`` manifest of ours lists, other data files) at a destination.

    Only the first are ever deleted by a publish. A ``_SUCCESS`` that is not one of our
    manifests (Spark writes an empty one) makes every file there someone else's.

    :param destination: the output prefix.
    :param options: storage options.
    """
    filesystem, base = resolve(destination, options)
    infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    present = sorted(i.path[len(base):].lstrip("/") for i in infos if i.type == pafs.FileType.File)
    present = [p for p in present if not any(part.startswith(("_", ".")) for part in p.split("/"))]
    try:
        manifest = read_manifest(destination, options)
    except StorageError:
        manifest = None
    listed = {f["path"] for f in (manifest or {}).get("files", []) if isinstance(f, dict) and "path" in f} \
        if manifest and "job_id" in manifest else set()
    listed |= journaled_files(destination, options)  # an interrupted commit's parts are ours, not foreign
    return [p for p in present if p in listed], [p for p in present if p not in listed]


def read_manifest(destination: str, options: StorageOptions | None = None) -> dict[str, Any] | None:
    """The ``_SUCCESS`` manifest under an output prefix, or ``None``.

    :param destination: the output prefix.
    :param options: storage options.
    """
    filesystem, base = resolve(destination, options)
    data = _manifest_bytes(filesystem, base)
    if data is None:
        return None
    try:
        manifest = json.loads(data)
    except ValueError as err:
        raise StorageError(f"manifest {destination}/{MANIFEST_NAME} is not JSON: {err}") from err
    return manifest if isinstance(manifest, dict) else None


def list_input(inp: InputSpec, options: StorageOptions | None = None) -> tuple[pafs.FileSystem, list[FileEntry]]:
    """The files of one input (sorted by path), with their sizes and formats.

    :param inp: the input (file, directory/prefix, or glob).
    :param options: storage options.
    :raises StorageError: when nothing matches, naming the input.
    """
    filesystem, path = resolve(inp.path, options)
    entries: list[FileEntry] = []
    if any(ch in path for ch in _GLOB_CHARS):
        cut = min(path.index(ch) for ch in _GLOB_CHARS if ch in path)
        base = path[:cut].rsplit("/", 1)[0] if "/" in path[:cut] else ""
        selector = pafs.FileSelector(base or ".", recursive=True, allow_not_found=True)
        infos = [i for i in filesystem.get_file_info(selector) if i.type == pafs.FileType.File]
        infos = [i for i in infos if fnmatch.fnmatchcase(i.path, path) and not posixpath.basename(i.path).startswith(("_", "."))]
        entries = [FileEntry(i.path, int(i.size or 0), inp.format or format_of(i.path)) for i in infos]
    else:
        info = _info(filesystem, path)
        if info.type == pafs.FileType.File:
            entries = [FileEntry(path, int(info.size or 0), inp.format or format_of(path))]
        elif info.type == pafs.FileType.Directory:
            manifest = _our_manifest(filesystem, path)
            if manifest is not None:  # a published Cylon output: exactly the files it lists
                fmt = inp.format or manifest.get("format") or "parquet"
                entries = [FileEntry(_join(path, f["path"]), int(f.get("bytes", 0)), fmt)
                           for f in manifest.get("files", [])]
            else:
                selector = pafs.FileSelector(path, recursive=True)
                for i in filesystem.get_file_info(selector):
                    rel = i.path[len(path):].lstrip("/")
                    if i.type != pafs.FileType.File or any(p.startswith(("_", ".")) for p in rel.split("/")):
                        continue
                    if inp.format is None and not _is_data_file(i.path):
                        continue
                    entries.append(FileEntry(i.path, int(i.size or 0), inp.format or format_of(i.path)))
    entries.sort(key=lambda e: e.path)
    if not entries:
        raise StorageError(f"input {inp.name!r} ({inp.path!r}) matches no data file "
                           f"(expected a file, a directory with .parquet/.csv/.arrow files, or a glob)")
    return filesystem, entries


def _manifest_bytes(filesystem: pafs.FileSystem, directory: str) -> bytes | None:
    """The bytes of ``directory/_SUCCESS``, or ``None`` when there is none."""
    path = _join(directory, MANIFEST_NAME)
    if _info(filesystem, path).type != pafs.FileType.File:
        return None
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def _our_manifest(filesystem: pafs.FileSystem, directory: str) -> dict[str, Any] | None:
    """The ``_SUCCESS`` manifest under ``directory`` if it is one of ours, else ``None``.

    Spark and Hive write an empty ``_SUCCESS`` marker: that is not a manifest, and the
    directory is then read like any other (``_``- and ``.``-prefixed files skipped).
    """
    data = _manifest_bytes(filesystem, directory)
    if data is None:
        return None
    try:
        manifest = json.loads(data)
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) and "job_id" in manifest and "files" in manifest else None


def plan_units(filesystem: pafs.FileSystem, entries: Sequence[FileEntry], world_size: int) -> list[ReadUnit]:
    """Read units in input order: whole files, or Parquet row groups when files are too few to balance.

    :param filesystem: where the files live.
    :param entries: from :func:`list_input`.
    :param world_size: number of ranks.
    """
    split = len(entries) < 4 * world_size and world_size > 1
    units: list[ReadUnit] = []
    for e in entries:
        if split and e.format == "parquet":
            try:
                meta = pq.ParquetFile(filesystem.open_input_file(e.path)).metadata
            except (OSError, pa.ArrowException) as err:
                raise StorageError(f"cannot read the Parquet footer of {e.path!r}: {err}") from err
            groups = [meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)]
            total = sum(groups) or 1
            for g, size in enumerate(groups):
                units.append(ReadUnit(e.path, e.format, max(1, e.size * size // total), g, meta))
            if not groups:
                units.append(ReadUnit(e.path, e.format, e.size, None))
        else:
            units.append(ReadUnit(e.path, e.format, e.size, None))
    return units


def assign_units(units: Sequence[ReadUnit], world_size: int) -> list[list[ReadUnit]]:
    """Cut units into ``world_size`` contiguous ranges of about equal bytes.

    A unit goes to the rank whose byte range holds the unit's midpoint, so ranks
    in order keep the input order and no rank is off by more than one unit.

    :param units: in input order.
    :param world_size: number of ranks.
    """
    out: list[list[ReadUnit]] = [[] for _ in range(world_size)]
    total = sum(max(1, u.size) for u in units)
    acc = 0
    for u in units:
        size = max(1, u.size)
        mid = acc + size / 2
        rank = min(world_size - 1, int(mid * world_size // total))
        out[rank].append(u)
        acc += size
    return out


# -- reading -----------------------------------------------------------------------------------
def _runs(units: Sequence[ReadUnit]) -> list[list[ReadUnit]]:
    """Consecutive row groups of one Parquet file together (one open, one footer read); the rest alone."""
    runs: list[list[ReadUnit]] = []
    for u in units:
        last = runs[-1][-1] if runs else None
        if (last is not None and u.row_group is not None and last.row_group is not None
                and u.path == last.path and u.format == last.format):
            runs[-1].append(u)
        else:
            runs.append([u])
    return runs


@dataclass(frozen=True)
class ReadRequest:
    """What a rank reads of an input's files: which columns, and which rows.

    :param columns: columns to decode (``None``: all); the predicate's own are among them.
    :param predicate: rows kept are those where it is TRUE (a runtime expression), or ``None``.
    :param keep: the columns of the result, in order, after filtering (``None``: ``columns``).
    :param dictionaries: text columns that may leave the reader as dictionary arrays (where
        their Parquet dictionaries are small and were read as such), their values in the
        declared type: the one step reading this input uses them only as group-by keys,
        grouped by their indices, and restores the declared type on its output rows.
    """

    columns: tuple[str, ...] | None = None
    predicate: Any = None
    keep: tuple[str, ...] | None = None
    dictionaries: tuple[str, ...] = ()


def _parquet_groups(filesystem: pafs.FileSystem, path: str, groups: list[int], schema: pa.Schema,
                    predicate: Any) -> list[int]:
    """The row groups whose statistics do not exclude the predicate (pyarrow.dataset decides)."""
    pushdown = predicate.pushdown_filter(schema) if predicate is not None else None
    if pushdown is None or not groups:
        return groups
    # Imported here: pyarrow.dataset probes numpy at import, which a worker without a
    # predicate should not pay for (and the Lambda image does not have).
    from pyarrow import dataset as pads

    fragment = pads.ParquetFileFormat().make_fragment(path, filesystem=filesystem, row_groups=groups)
    return [g.id for g in fragment.subset(filter=pushdown, schema=schema).row_groups]


def _read_run(filesystem: pafs.FileSystem, run: Sequence[ReadUnit], request: ReadRequest | None = None) -> pa.Table:
    """Read a run of :func:`_runs` (a whole file, or row groups of one Parquet file): the request's
    columns, its predicate applied right after decoding, before anything else sees the rows."""
    unit = run[0]
    request = request or ReadRequest()
    columns = list(request.columns) if request.columns is not None else None
    filtered = False  # the predicate already applied
    try:
        if unit.format == "parquet":
            # pre_buffer: the run's column chunks are fetched in coalesced ranged reads
            # (few requests on S3) instead of one request per column chunk.
            source = _open_parquet(filesystem, unit.path)
            pf = pq.ParquetFile(source, metadata=unit.metadata, pre_buffer=True)
            groups = (list(range(pf.metadata.num_row_groups)) if unit.row_group is None
                      else [u.row_group for u in run])
            if request.predicate is not None:
                groups = _parquet_groups(filesystem, unit.path, groups, pf.schema_arrow, request.predicate)
            declared = pf.schema_arrow
            selected = None
            if request.predicate is not None:  # dates and decimals a conjunct reads alone, as dictionaries
                selected = read_filtered(source, pf.metadata, groups, columns, request.predicate, request.keep,
                                         declared, encoded=request.dictionaries)
            if selected is not None:
                table, filtered = selected, True
            else:
                via_dictionary = dictionary_columns_to_read(pf.metadata, declared, groups, columns)
                if via_dictionary:  # the same open file and footer, read with those columns as dictionaries
                    pf = pq.ParquetFile(source, metadata=pf.metadata, pre_buffer=True, read_dictionary=via_dictionary)
                if unit.row_group is None and request.predicate is None:
                    table = pf.read(columns=columns)
                else:
                    table = pf.read_row_groups(groups, columns=columns)
                if via_dictionary and request.predicate is not None:
                    table = apply_predicate(table, request.predicate, declared, keep=request.keep,
                                            encoded=request.dictionaries)
                    filtered = True
                else:
                    table = as_declared(table, declared, encoded=request.dictionaries)
        elif unit.format == "csv":
            stream = filesystem.open_input_stream(unit.path, compression="detect")
            with stream:
                convert = _CSV_CONVERT if columns is None else pacsv.ConvertOptions(
                    strings_can_be_null=True, include_columns=columns)
                table = pacsv.read_csv(stream, convert_options=convert)
        else:
            source = filesystem.open_input_file(unit.path)
            try:
                table = paipc.open_file(source).read_all()
            except pa.ArrowInvalid:
                source.seek(0)
                table = paipc.open_stream(source).read_all()
            if columns is not None:
                table = table.select(columns)
    except (OSError, pa.ArrowException) as err:
        where = f" row group {unit.row_group}" if unit.row_group is not None else ""
        raise StorageError(f"cannot read {unit.format} file {unit.path!r}{where}: {err}") from err
    if request.predicate is not None and not filtered:
        table = request.predicate.filter(table, keep=request.keep)
    if request.keep is not None and list(request.keep) != table.column_names:
        table = table.select(list(request.keep))
    return table


def _open_parquet(filesystem: pafs.FileSystem, path: str) -> pa.NativeFile:
    """A Parquet source: local files memory-mapped (the decoder reads the page cache in
    place instead of copying every column chunk into a fresh buffer first)."""
    if isinstance(filesystem, pafs.LocalFileSystem):
        return pa.memory_map(path)
    return filesystem.open_input_file(path)


def read_schema(filesystem: pafs.FileSystem, entry: FileEntry) -> pa.Schema:
    """The schema of one input file (cheap for Parquet/IPC: metadata only).

    :param filesystem: where the file lives.
    :param entry: the file.
    """
    try:
        if entry.format == "parquet":
            return pq.ParquetFile(filesystem.open_input_file(entry.path)).schema_arrow
        if entry.format == "arrow":
            return _read_run(filesystem, [ReadUnit(entry.path, "arrow", entry.size)]).schema
        stream = filesystem.open_input_stream(entry.path, compression="detect")
        with stream:
            reader = pacsv.open_csv(stream, convert_options=_CSV_CONVERT)
            return reader.schema
    except (OSError, pa.ArrowException) as err:
        raise StorageError(f"cannot read the schema of {entry.path!r}: {err}") from err


def _with_dictionaries(schema: pa.Schema, names: Collection[str]) -> pa.Schema:
    """``schema`` with the fields ``names`` as int32-indexed dictionaries of their type."""
    if not names:
        return schema
    return pa.schema([f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in names else f for f in schema])


def _conform(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    if table.schema.equals(schema, check_metadata=False):
        return table
    if table.schema.names != schema.names:
        missing = [n for n in schema.names if n not in table.schema.names]
        raise StorageError(f"{where}: columns {table.schema.names} differ from the input's first file "
                           f"{schema.names} (missing {missing})")
    try:
        return table.cast(schema)
    except (pa.ArrowException, ValueError) as err:
        raise StorageError(f"{where}: schema {table.schema} cannot be cast to the first file's {schema}: {err}") from err


@dataclass(frozen=True)
class InputListing:
    """An input's files and its first file's schema: listed and read once per worker (on S3 a
    LIST and a ranged GET each), then shared by the plan and the read."""

    filesystem: pafs.FileSystem
    entries: list[FileEntry]
    schema: pa.Schema


def open_input(inp: InputSpec, options: StorageOptions | None = None) -> InputListing:
    """List an input and read its first file's schema (footer or header only).

    :param inp: the input.
    :param options: storage options.
    :raises StorageError: when nothing matches or the first file cannot be read, naming it.
    """
    filesystem, entries = list_input(inp, options)
    return InputListing(filesystem, entries, read_schema(filesystem, entries[0]))


def input_schema(inp: InputSpec, options: StorageOptions | None = None,
                 listing: InputListing | None = None) -> pa.Schema:
    """The schema of an input's first file (footer or header only), without metadata.

    :param inp: the input.
    :param options: storage options.
    :param listing: the input's :func:`open_input`, when already read.
    """
    return (listing or open_input(inp, options)).schema.remove_metadata()


def read_rank_share(inp: InputSpec, rank: int, world_size: int, options: StorageOptions | None = None,
                    request: ReadRequest | None = None, listing: InputListing | None = None) -> pa.Table:
    """This rank's share of an input; an empty table with the result's schema if it gets nothing.

    :param inp: the input.
    :param rank: this rank.
    :param world_size: number of ranks.
    :param options: storage options.
    :param request: columns to read and rows to keep (default: every column and row).
    :param listing: the input's :func:`open_input`, when already read.
    """
    request = request or ReadRequest()
    listing = listing or open_input(inp, options)
    filesystem, entries, schema = listing.filesystem, listing.entries, listing.schema
    read_schema_ = schema if request.columns is None else pa.schema([schema.field(c) for c in request.columns])
    units = assign_units(plan_units(filesystem, entries, world_size), world_size)[rank]
    result_schema = read_schema_ if request.keep is None else pa.schema([read_schema_.field(c) for c in request.keep])
    runs = _runs(units)
    tables = [_read_run(filesystem, run, request) for run in runs]
    # Columns left as dictionaries stay so only where every run read them so.
    encoded = {n for n in request.dictionaries
               if tables and all(n in t.column_names and pa.types.is_dictionary(t.schema.field(n).type) for t in tables)}
    tables = [_conform(as_declared(t, result_schema, encoded=encoded) if request.dictionaries else t,
                       _with_dictionaries(result_schema, encoded), f"input {inp.name!r} file {run[0].path!r}")
              for t, run in zip(tables, runs)]
    if not tables:
        empty = read_schema_.empty_table()
        return empty.select(list(request.keep)) if request.keep is not None else empty
    return pa.concat_tables(tables).replace_schema_metadata(None) if len(tables) > 1 else tables[0].replace_schema_metadata(None)


def read_all(path: str, options: StorageOptions | None = None, fmt: str | None = None) -> pa.Table:
    """Read a whole input (file, prefix, glob, or published output) into one table.

    :param path: the input path.
    :param options: storage options.
    :param fmt: format override.
    """
    return read_rank_share(InputSpec(path=path, name="in0", format=fmt), 0, 1, options)


# -- writing -----------------------------------------------------------------------------------
def job_token(job_id: str) -> str:
    """Short, stable token of a job id used in published part names."""
    return hashlib.sha256(job_id.encode()).hexdigest()[:10]


def staging_dir(destination: str, job_id: str, options: StorageOptions | None = None) -> tuple[pafs.FileSystem, str]:
    """Filesystem and path of a job's staging prefix ``{destination}/_staging/{job_id}``.

    :param destination: output prefix.
    :param job_id: the job id.
    :param options: storage options.
    """
    filesystem, base = resolve(destination, options)
    return filesystem, _join(base, STAGING_DIR, job_id)


def _write_table(filesystem: pafs.FileSystem, path: str, table: pa.Table, output: OutputSpec) -> int:
    codec, level = output.codec, output.compression_level
    if output.format == "parquet":
        with filesystem.open_output_stream(path) as sink:
            pq.write_table(table, sink, compression=codec, compression_level=level,
                           use_dictionary=dictionary_columns(table))
    elif output.format == "csv":
        with filesystem.open_output_stream(path) as sink:
            pacsv.write_csv(table, sink)
    else:
        options = paipc.IpcWriteOptions(compression=None if codec == "none" else pa.Codec(codec, level))
        with filesystem.open_output_stream(path) as sink, paipc.new_file(sink, table.schema, options=options) as writer:
            writer.write_table(table)
    return int(_info(filesystem, path).size or 0)


def stage_part(table: pa.Table, output: OutputSpec, job_id: str, rank: int,
               options: StorageOptions | None = None) -> dict[str, Any]:
    """Write this rank's part under the staging prefix.

    :param table: this rank's result.
    :param output: where the job publishes.
    :param job_id: the job id.
    :param rank: this rank.
    :param options: storage options.
    :returns: ``{"rank", "name", "rows", "bytes"}`` (``name`` relative to the staging prefix).
    """
    filesystem, stage = staging_dir(output.destination, job_id, options)
    name = f"part-{rank:05d}.{EXTENSIONS[output.format]}"
    try:
        if isinstance(filesystem, pafs.LocalFileSystem):  # object stores need no directories
            filesystem.create_dir(stage, recursive=True)
        size = _write_table(filesystem, _join(stage, name), table, output)
    except (OSError, pa.ArrowException) as err:
        raise StorageError(f"job_id={job_id} rank={rank}: cannot write {output.destination}/{STAGING_DIR}/"
                           f"{job_id}/{name}: {err}", job_id=job_id, rank=rank) from err
    return {"rank": rank, "name": name, "rows": table.num_rows, "bytes": size}


def schema_to_json(schema: pa.Schema) -> list[dict[str, Any]]:
    """A readable schema for the manifest: ``[{"name", "type", "nullable"}]``."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


#: A commit's journal in its staging prefix: the part names it publishes and the previous files it
#: deletes. Written before the first part moves, so whoever finds it later (the job's waiter, the next
#: commit at the destination) can finish what a killed commit began: forward when the manifest names
#: the job (the commit point was reached), else back.
COMMIT_JOURNAL = "_commit.json"
#: Test-only fault injection in the commit: ``moved:K`` (after K parts moved) or ``manifest`` (after the
#: manifest, before the previous files go), optionally ``:kill`` (SIGKILL, as a Lambda killed mid-commit)
#: instead of an error.
COMMIT_FAULT_ENV = "CYLON_TEST_COMMIT_FAULT"


def _commit_fault(point: str) -> None:
    spec = os.environ.get(COMMIT_FAULT_ENV, "")
    target, _, mode = spec.rpartition(":") if spec.endswith(":kill") else (spec, "", "")
    if not spec or target != point:
        return
    log.warning("commit fault %r (%s is set: fault injection for tests)", spec, COMMIT_FAULT_ENV)
    if mode == "kill":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    raise OSError(f"injected commit fault at {point} ({COMMIT_FAULT_ENV})")


def _journal_paths(filesystem: pafs.FileSystem, base: str) -> list[str]:
    stage_root = _join(base, STAGING_DIR)
    infos = filesystem.get_file_info(pafs.FileSelector(stage_root, recursive=False, allow_not_found=True))
    return [_join(i.path, COMMIT_JOURNAL) for i in infos if i.type == pafs.FileType.Directory]


def _read_journal(filesystem: pafs.FileSystem, path: str) -> dict[str, Any] | None:
    try:
        with filesystem.open_input_stream(path) as f:
            data = json.loads(f.read())
    except (OSError, pa.ArrowException, ValueError):
        return None
    return data if isinstance(data, dict) else None


def journaled_files(destination: str, options: StorageOptions | None = None) -> set[str]:
    """Names an interrupted commit of ours may have left at ``destination`` (ours to delete, never foreign)."""
    filesystem, base = resolve(destination, options)
    names: set[str] = set()
    for path in _journal_paths(filesystem, base):
        journal = _read_journal(filesystem, path) or {}
        names.update(str(n) for n in [*journal.get("publish", []), *journal.get("previous", [])])
    return names


def recover_commit(destination: str, job_id: str | None = None, options: StorageOptions | None = None) -> int:
    """Finish what interrupted commits began (``job_id``'s, or every one's): files deleted.

    The manifest is the commit point: a journal whose job the manifest names went past it, so
    the previous files it meant to delete go (forward); any other journal's published parts go
    (back). The destination then holds exactly one complete output and the files we never wrote.

    :param destination: output prefix.
    :param job_id: only this job's journal (None: all; only the destination's latest
        submission may commit, see the fence, so no other commit is in progress).
    :param options: storage options.
    """
    filesystem, base = resolve(destination, options)
    try:
        manifest = read_manifest(destination, options) or {}
    except StorageError:
        manifest = {}
    listed = {f["path"] for f in manifest.get("files", []) if isinstance(f, dict) and "path" in f}
    paths = ([_join(base, STAGING_DIR, job_id, COMMIT_JOURNAL)] if job_id is not None
             else _journal_paths(filesystem, base))
    deleted = 0
    for path in paths:
        journal = _read_journal(filesystem, path)
        if journal is None:
            continue
        forward = manifest.get("job_id") == journal.get("job_id")
        for name in journal.get("previous" if forward else "publish", []):
            if name in listed:
                continue
            try:
                filesystem.delete_file(_join(base, str(name)))
                deleted += 1
            except FileNotFoundError:
                pass
            except (OSError, pa.ArrowException) as err:
                log.warning("job_id=%s could not remove %s of an interrupted commit: %s", journal.get("job_id"),
                            name, err)
        log.warning("job_id=%s: an interrupted commit at %s was rolled %s (%d files removed)", journal.get("job_id"),
                    destination, "forward" if forward else "back", deleted)
        discard_staging(destination, str(journal.get("job_id")), options)
    return deleted


def commit(output: OutputSpec, job_id: str, parts: Sequence[dict[str, Any]], schema: pa.Schema,
           options: StorageOptions | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Publish the staged parts and the ``_SUCCESS`` manifest; then drop the previous output.

    :param output: where to publish.
    :param job_id: the job id.
    :param parts: every rank's :func:`stage_part` result, in rank order.
    :param schema: the result schema.
    :param options: storage options.
    :param extra: more manifest fields (e.g. world size, op).
    :returns: the manifest written.
    """
    filesystem, base = resolve(output.destination, options)
    _, stage = staging_dir(output.destination, job_id, options)
    token = job_token(job_id)
    manifest_path = _join(base, MANIFEST_NAME)
    recover_commit(output.destination, None, options)  # a commit killed before this one: finish it first
    ours, others = our_previous_output(output.destination, options)
    if others and output.if_exists == "overwrite":
        raise StorageError(foreign_files_message(output.destination, others), job_id=job_id)
    previous = [_join(base, p) for p in ours]
    kept = _kept_files(output.destination, options) if output.if_exists == "append" else []
    files: list[dict[str, Any]] = []
    ordered = sorted(parts, key=lambda p: int(p["rank"]))
    finals = [f"{p['name'].rsplit('.', 1)[0]}-{token}.{p['name'].rsplit('.', 1)[1]}" for p in ordered]
    try:
        with filesystem.open_output_stream(_join(stage, COMMIT_JOURNAL)) as sink:
            sink.write(json.dumps({"job_id": job_id, "publish": finals,
                                   "previous": ours if output.if_exists != "append" else []}).encode())
        for moved, (part, final_name) in enumerate(zip(ordered, finals)):
            _commit_fault(f"moved:{moved}")
            filesystem.move(_join(stage, part["name"]), _join(base, final_name))
            files.append({"path": final_name, "rank": int(part["rank"]), "rows": int(part["rows"]),
                          "bytes": int(part["bytes"])})
        _commit_fault(f"moved:{len(ordered)}")
        listed = kept + files
        manifest = {
            "job_id": job_id,
            "destination": output.destination,
            "format": output.format,
            "compression": output.codec,
            "files": listed,
            "rows": sum(int(f.get("rows", 0)) for f in listed),
            "bytes": sum(int(f.get("bytes", 0)) for f in listed),
            "schema": schema_to_json(schema),
            "committed_at": time.time(),
            **(extra or {}),
        }
        body = json.dumps(manifest, indent=1).encode()
        if isinstance(filesystem, pafs.LocalFileSystem):
            tmp = _join(base, f".{MANIFEST_NAME}.{token}.tmp")
            with filesystem.open_output_stream(tmp) as sink:
                sink.write(body)
            os.replace(tmp, manifest_path)  # atomic on POSIX
        else:
            with filesystem.open_output_stream(manifest_path) as sink:  # one PUT: atomic on S3
                sink.write(body)
    except (OSError, pa.ArrowException) as err:
        recover_commit(output.destination, job_id, options)  # back: take the parts moved so far away again
        raise StorageError(f"job_id={job_id}: commit to {output.destination!r} failed: {err}; the previous "
                           "output is untouched", job_id=job_id) from err
    _commit_fault("manifest")
    new = {_join(base, f["path"]) for f in manifest["files"]}
    for path in previous if output.if_exists != "append" else []:
        if path not in new:
            try:
                filesystem.delete_file(path)
            except (OSError, pa.ArrowException) as err:  # stale files are harmless: the manifest names the set
                log.warning("job_id=%s could not remove previous part %s: %s", job_id, path, err)
    discard_staging(output.destination, job_id, options)
    return manifest


def foreign_files_message(destination: str, others: Sequence[str]) -> str:
    """Why a publish refuses a destination that holds files no manifest of ours lists."""
    shown = ", ".join(repr(p) for p in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return (f"destination {destination!r} holds {len(others)} file(s) that no Cylon manifest there lists ({shown}); "
            "they are not ours to replace. Choose an empty destination, or set if_exists='overwrite_all' "
            "(replace our previous output, keep those files) or if_exists='append'")


def _kept_files(destination: str, options: StorageOptions | None) -> list[dict[str, Any]]:
    """The previous manifest's file entries (what an append keeps listing)."""
    try:
        manifest = read_manifest(destination, options) or {}
    except StorageError:
        return []
    return [f for f in manifest.get("files", []) if isinstance(f, dict) and "path" in f]


def discard_staging(destination: str, job_id: str, options: StorageOptions | None = None) -> None:
    """Remove a job's staging prefix (and ``_staging`` itself when empty); best effort.

    :param destination: output prefix.
    :param job_id: the job id.
    :param options: storage options.
    """
    filesystem, stage = staging_dir(destination, job_id, options)
    try:
        if _info(filesystem, stage).type == pafs.FileType.Directory:
            filesystem.delete_dir(stage)
        parent = posixpath.dirname(stage)
        if isinstance(filesystem, pafs.LocalFileSystem) and os.path.isdir(parent) and not os.listdir(parent):
            os.rmdir(parent)
    except (OSError, pa.ArrowException, StorageError) as err:
        log.warning("job_id=%s could not remove staging %s: %s", job_id, stage, err)


def read_output(destination: str, options: StorageOptions | None = None) -> pa.Table:
    """Read a published output through its manifest, parts in rank order.

    :param destination: output prefix.
    :param options: storage options.
    :raises StorageError: when there is no ``_SUCCESS`` manifest.
    """
    manifest = read_manifest(destination, options)
    if manifest is None:
        raise StorageError(f"no {MANIFEST_NAME} manifest under {destination!r}: nothing was published")
    filesystem, base = resolve(destination, options)
    tables = [_read_run(filesystem, [ReadUnit(_join(base, f["path"]), manifest.get("format", "parquet"), 0)])
              for f in sorted(manifest["files"], key=lambda f: f["rank"])]
    return pa.concat_tables(tables) if tables else pa.table({})
