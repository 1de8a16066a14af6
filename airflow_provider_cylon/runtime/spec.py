"""JobSpec: what a distributed job computes (versioned JSON, validated on construction).

A spec crosses Redis (``cylon:{job}:spec``), trigger serialization and the CLI,
so it is plain JSON: :meth:`JobSpec.to_dict` / :meth:`JobSpec.from_dict` round-trip
exactly, and every validation error names the offending field.

A job is a short pipeline of steps run in one job without writing intermediates.
A single operation is a one-step pipeline; ``op`` says which (``"pipeline"`` for
more than one step). Step inputs are names: the job inputs (``in0``, ``in1``, ...
or the names given) and the results of earlier steps (``step0``, ``step1``, ... or
the names given). Without explicit inputs, the first step reads every job input
and a later step reads the previous step's result.

Credentials never live in a spec: storage options hold only non-secret settings
(endpoint, region, scheme); keys come from the worker's environment.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_cylon.runtime import fields as f
from airflow_provider_cylon.runtime.errors import SpecError
from airflow_provider_cylon.runtime.ops import STEP_OPS, Step, step_from_dict
from airflow_provider_cylon.runtime.ops.expression_params import expression

SPEC_VERSION = 1
OPS = (*STEP_OPS, "pipeline")
CHANNELS = ("redis", "tcp", "s3", "tcp-punch")
COMPRESSIONS = ("none", "lz4", "zstd")
FORMATS = ("parquet", "csv", "arrow")
#: Codecs of written files per format; the first is the default.
OUTPUT_COMPRESSIONS = {
    "parquet": ("zstd", "snappy", "gzip", "brotli", "lz4", "none"),
    "arrow": ("none", "lz4", "zstd"),
    "csv": ("none",),
}
MAX_WORLD_SIZE = 4096
#: Seconds without a heartbeat after which a rank counts as dead (runtime/heartbeat.py).
DEFAULT_HEARTBEAT_TIMEOUT_S = 15.0
# Storage option names that would carry a secret; a spec travels through Redis,
# XCom and logs, so these are refused outright.
_SECRET_WORDS = ("secret", "password", "token", "access_key", "credential", "session")
STORAGE_OPTION_KEYS = ("endpoint_override", "region", "scheme", "anonymous", "force_virtual_addressing")
INPUT_FIELDS = ("path", "name", "format", "columns", "where")
IF_EXISTS = ("overwrite", "overwrite_all", "append")

_fail = f.fail
_str = f.string
_choice = f.choice
_int = f.integer
_number = f.number


def format_of(path: str) -> str:
    """Storage format implied by a path's extension (``parquet`` when there is none).

    :param path: a file name, prefix or glob.
    """
    low = path.lower().rstrip("/")
    for suffix, fmt in ((".csv", "csv"), (".csv.gz", "csv"), (".arrow", "arrow"), (".feather", "arrow"),
                        (".ipc", "arrow"), (".parquet", "parquet"), (".pq", "parquet")):
        if low.endswith(suffix):
            return fmt
    return "parquet"


@dataclass(frozen=True)
class InputSpec:
    """One job input: a file, a directory/prefix or a glob.

    :param path: ``file://``, ``s3://`` or a plain local path (templated upstream).
    :param name: how steps refer to it (``in{i}`` by default).
    :param format: ``parquet|csv|arrow``; ``None`` means by extension.
    :param columns: read only these columns, in this order (``None``: every column the
        pipeline uses).
    :param where: a predicate (compiled expression tree): Parquet row groups whose
        statistics exclude it are skipped, and the rest is filtered right after decoding.
    """

    path: str
    name: str = ""
    format: str | None = None
    columns: tuple[str, ...] | None = None
    where: Any = None

    def validate(self, where: str) -> None:
        _str(self.path, f"{where}.path")
        f.name(self.name, f"{where}.name")
        if self.format is not None:
            _choice(self.format, f"{where}.format", FORMATS)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "name": self.name}
        if self.format is not None:
            out["format"] = self.format
        if self.columns is not None:
            out["columns"] = list(self.columns)
        if self.where is not None:
            out["where"] = self.where.to_json()
        return out

    @classmethod
    def from_dict(cls, item: str | Mapping[str, Any], where: str, index: int) -> InputSpec:
        """A path, or ``{"path", "name", "format", "columns", "where"}``.

        :param item: the input as the user (or the compiled spec) gave it.
        :param where: field path for messages.
        :param index: position (default name ``in{index}``).
        """
        if isinstance(item, str):
            return cls(path=_str(item, where), name=f"in{index}")
        if not isinstance(item, Mapping):
            raise _fail(where, f"expected a path or a mapping but found {type(item).__name__}")
        unknown = sorted(set(item) - set(INPUT_FIELDS))
        if unknown:
            raise _fail(f"{where}.{unknown[0]}", f"unknown input field{f.closest(unknown[0], INPUT_FIELDS)}; "
                                                 f"expected one of {', '.join(INPUT_FIELDS)}")
        predicate = item.get("where")
        return cls(path=_str(item.get("path"), f"{where}.path"), name=item.get("name") or f"in{index}",
                   format=item.get("format"), columns=f.names(item.get("columns"), f"{where}.columns"),
                   where=None if predicate is None else expression(predicate, f"{where}.where"))


@dataclass(frozen=True)
class OutputSpec:
    """Where and how the result is published.

    :param destination: prefix (``file://``, ``s3://`` or a local dir); part files and
        ``_SUCCESS`` go directly under it.
    :param format: ``parquet`` (default), ``csv`` or ``arrow``.
    :param compression: codec of the written files: Parquet ``zstd`` (default), ``snappy``,
        ``gzip``, ``brotli``, ``lz4`` or ``none``; Arrow IPC ``none`` (default), ``lz4`` or
        ``zstd``; CSV ``none`` only.
    :param compression_level: the codec's level (``None``: Arrow's default for the codec).
    :param if_exists: what a publish does with what the destination holds. It only ever
        deletes the files of the previous ``_SUCCESS`` manifest there (our own output),
        never files that no manifest of ours lists. ``overwrite`` (default): replace the
        previous output; refuse, before writing, a destination holding other files.
        ``overwrite_all``: replace the previous output and leave other files as they are.
        ``append``: keep everything; the new manifest lists the previous output's files
        and the new ones.
    """

    destination: str
    format: str = "parquet"
    compression: str | None = None
    compression_level: int | None = None
    if_exists: str = "overwrite"

    def validate(self, where: str) -> None:
        _str(self.destination, f"{where}.destination")
        if any(ch in self.destination for ch in "*?["):
            raise _fail(f"{where}.destination", f"expected a prefix, not a glob, but found {self.destination!r}")
        _choice(self.format, f"{where}.format", FORMATS)
        _choice(self.if_exists, f"{where}.if_exists", IF_EXISTS)
        if self.compression is not None:
            _choice(self.compression, f"{where}.compression", OUTPUT_COMPRESSIONS[self.format])
        if self.compression_level is not None:
            import pyarrow as pa  # the codec's own bounds (Arrow's), checked before any worker starts

            _int(self.compression_level, f"{where}.compression_level")
            if self.codec == "none" or not pa.Codec.supports_compression_level(self.codec):
                raise _fail(f"{where}.compression_level", f"codec {self.codec!r} takes no level")
            low = pa.Codec.minimum_compression_level(self.codec)
            high = pa.Codec.maximum_compression_level(self.codec)
            _int(self.compression_level, f"{where}.compression_level", low=low, high=high)

    @property
    def codec(self) -> str:
        """The codec the files are written with (the format's default when not given)."""
        return self.compression or OUTPUT_COMPRESSIONS[self.format][0]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"destination": self.destination, "format": self.format}
        if self.compression is not None:
            out["compression"] = self.compression
        if self.compression_level is not None:
            out["compression_level"] = self.compression_level
        if self.if_exists != "overwrite":
            out["if_exists"] = self.if_exists
        return out


@dataclass(frozen=True)
class StorageOptions:
    """Non-secret filesystem settings (credentials come from the environment).

    :param endpoint_override: ``host:port`` of an S3-compatible server.
    :param region: S3 region.
    :param scheme: ``https`` (default) or ``http`` for the endpoint.
    :param anonymous: access public buckets without credentials.
    :param force_virtual_addressing: virtual-hosted-style bucket addressing.
    """

    endpoint_override: str | None = None
    region: str | None = None
    scheme: str | None = None
    anonymous: bool = False
    force_virtual_addressing: bool = False

    def validate(self, where: str) -> None:
        if self.endpoint_override is not None:
            _str(self.endpoint_override, f"{where}.endpoint_override")
            if "@" in self.endpoint_override:
                raise _fail(f"{where}.endpoint_override", "must not carry credentials (found '@')")
        if self.region is not None:
            _str(self.region, f"{where}.region")
        if self.scheme is not None:
            _choice(self.scheme, f"{where}.scheme", ("http", "https"))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("endpoint_override", self.endpoint_override), ("region", self.region), ("scheme", self.scheme),
            ("anonymous", self.anonymous or None), ("force_virtual_addressing", self.force_virtual_addressing or None),
        ) if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "storage") -> StorageOptions:
        data = dict(data or {})
        for key in data:
            if any(word in key.lower() for word in _SECRET_WORDS):
                raise _fail(f"{where}.{key}", "credentials never go in a JobSpec; set them in the worker environment")
            if key not in STORAGE_OPTION_KEYS:
                raise _fail(f"{where}.{key}", f"unknown storage option; expected one of {list(STORAGE_OPTION_KEYS)}")
        opts = cls(**data)
        opts.validate(where)
        return opts


@dataclass(frozen=True)
class JobSpec:
    """A validated, versioned description of one distributed job.

    :param op: the operation (``pipeline`` when ``steps`` holds several).
    :param inputs: the job inputs.
    :param output: where the result goes.
    :param steps: the operations, in order; the last step's result is published.
    :param world_size: number of workers.
    :param channel: all_to_all transport: ``redis|tcp|s3|tcp-punch``.
    :param compression: compression of shuffled Arrow IPC: ``none|lz4|zstd``.
    :param timeout_s: wall-clock limit of the whole job; waits on peers end then.
    :param storage: non-secret filesystem options.
    :param broadcast_threshold_bytes: a join side smaller than this (summed over ranks)
        is broadcast instead of shuffled; 0 disables broadcasting.
    :param key_ttl_s: TTL of the job's Redis keys.
    :param heartbeat_timeout_s: a rank whose heartbeat (sent every fifth of this) is
        older than this is declared dead and the job aborted naming it; 0 disables.
    :param shuffle_prefix: for the ``s3`` channel: where exchange objects go
        (``{destination}/_staging/{job}/shuffle`` when ``None``).
    :param version: spec format version (:data:`SPEC_VERSION`).
    """

    op: str
    inputs: tuple[InputSpec, ...]
    output: OutputSpec
    steps: tuple[Step, ...]
    world_size: int = 1
    channel: str = "redis"
    compression: str = "none"
    timeout_s: float = 900.0
    storage: StorageOptions = field(default_factory=StorageOptions)
    broadcast_threshold_bytes: int = 8 * 1024 * 1024
    key_ttl_s: int = 24 * 3600
    heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S
    shuffle_prefix: str | None = None
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        self.validate()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def for_op(
        cls,
        op: str,
        inputs: Sequence[str | Mapping[str, Any]],
        destination: str,
        *,
        output_format: str = "parquet",
        world_size: int = 1,
        channel: str = "redis",
        compression: str = "none",
        timeout_s: float = 900.0,
        storage: Mapping[str, Any] | None = None,
        broadcast_threshold_bytes: int = 8 * 1024 * 1024,
        key_ttl_s: int = 24 * 3600,
        heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        **params: Any,
    ) -> JobSpec:
        """Build a one-step spec: ``JobSpec.for_op("join", [a, b], dest, on="id")``.

        :param op: one of :data:`STEP_OPS`.
        :param inputs: input paths (or input mappings).
        :param destination: output prefix.
        :param output_format: ``parquet|csv|arrow``.
        :param world_size: number of workers.
        :param channel: transport name.
        :param compression: shuffle compression.
        :param timeout_s: job time limit.
        :param storage: non-secret storage options.
        :param broadcast_threshold_bytes: broadcast-join threshold.
        :param key_ttl_s: Redis key TTL.
        :param heartbeat_timeout_s: dead-worker detection (0 disables).
        :param params: the op's parameters (``on``, ``how``, ``by``, ``aggs``, ...).
        """
        return cls.from_dict({
            "version": SPEC_VERSION, "op": op, "inputs": list(inputs),
            "output": {"destination": destination, "format": output_format},
            "steps": [{"op": op, **params}],
            "world_size": world_size, "channel": channel, "compression": compression, "timeout_s": timeout_s,
            "storage": dict(storage or {}), "broadcast_threshold_bytes": broadcast_threshold_bytes,
            "key_ttl_s": key_ttl_s, "heartbeat_timeout_s": heartbeat_timeout_s,
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """Parse and validate JSON-like data.

        Single ops may give their parameters at the top level
        (``{"op": "join", "on": "id", ...}``); pipelines give ``steps``.

        :param data: the mapping (e.g. ``json.loads`` of :meth:`to_json`).
        """
        if not isinstance(data, Mapping):
            raise _fail("<root>", f"expected a mapping but found {type(data).__name__}")
        version = data.get("version", SPEC_VERSION)
        if version != SPEC_VERSION:
            raise _fail("version", f"this runtime reads version {SPEC_VERSION} but found {version!r}")
        op = _choice(data.get("op"), "op", OPS)
        top_keys = {"version", "op", "inputs", "output", "destination", "steps", "world_size", "channel",
                    "compression", "timeout_s", "storage", "broadcast_threshold_bytes", "key_ttl_s",
                    "heartbeat_timeout_s", "shuffle_prefix"}
        step_params = {k: v for k, v in data.items() if k not in top_keys}
        steps_raw = data.get("steps")
        if steps_raw is None:
            if op == "pipeline":
                raise _fail("steps", "a pipeline needs a non-empty list of steps")
            steps_raw = [{"op": op, **step_params}]
        elif step_params:
            key = sorted(step_params)[0]
            raise _fail(key, "unknown top-level field (op parameters go in steps when steps is given)")
        if not isinstance(steps_raw, (list, tuple)) or not steps_raw:
            raise _fail("steps", f"expected a non-empty list of steps but found {steps_raw!r}")
        steps = tuple(step_from_dict(s, f"steps[{i}]", i) for i, s in enumerate(steps_raw))

        inputs_raw = data.get("inputs")
        if not isinstance(inputs_raw, (list, tuple)) or not inputs_raw:
            raise _fail("inputs", f"expected a non-empty list of input paths but found {inputs_raw!r}")
        inputs = [InputSpec.from_dict(item, f"inputs[{i}]", i) for i, item in enumerate(inputs_raw)]

        output_raw = data.get("output")
        if output_raw is None and "destination" in data:
            output_raw = {"destination": data["destination"]}
        if isinstance(output_raw, str):
            output_raw = {"destination": output_raw}
        if not isinstance(output_raw, Mapping):
            raise _fail("output", f"expected a mapping with destination but found {output_raw!r}")
        unknown = sorted(set(output_raw) - {"destination", "format", "compression", "compression_level", "if_exists"})
        if unknown:
            raise _fail(f"output.{unknown[0]}", "unknown output field; expected destination, format")
        output = OutputSpec(destination=_str(output_raw.get("destination"), "output.destination"),
                            format=output_raw.get("format", "parquet"), compression=output_raw.get("compression"),
                            compression_level=output_raw.get("compression_level"),
                            if_exists=output_raw.get("if_exists", "overwrite"))

        storage_raw = data.get("storage")
        if storage_raw is not None and not isinstance(storage_raw, Mapping):
            raise _fail("storage", f"expected a mapping but found {storage_raw!r}")
        shuffle_prefix = data.get("shuffle_prefix")
        if shuffle_prefix is not None:
            _str(shuffle_prefix, "shuffle_prefix")
        return cls(
            op=op,
            inputs=tuple(inputs),
            output=output,
            steps=steps,
            world_size=data.get("world_size", 1),
            channel=data.get("channel", "redis"),
            compression=data.get("compression") or "none",
            timeout_s=data.get("timeout_s", 900.0),
            storage=StorageOptions.from_dict(storage_raw),
            broadcast_threshold_bytes=data.get("broadcast_threshold_bytes", 8 * 1024 * 1024),
            key_ttl_s=data.get("key_ttl_s", 24 * 3600),
            heartbeat_timeout_s=data.get("heartbeat_timeout_s", DEFAULT_HEARTBEAT_TIMEOUT_S),
            shuffle_prefix=shuffle_prefix,
            version=version,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> JobSpec:
        """Parse a spec from its JSON text.

        :param text: JSON produced by :meth:`to_json`.
        """
        try:
            data = json.loads(text)
        except ValueError as err:
            raise _fail("<root>", f"not valid JSON: {err}") from err
        return cls.from_dict(data)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready mapping (always with ``steps``)."""
        out: dict[str, Any] = {
            "version": self.version,
            "op": self.op,
            "inputs": [i.to_dict() for i in self.inputs],
            "output": self.output.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "world_size": self.world_size,
            "channel": self.channel,
            "compression": self.compression,
            "timeout_s": self.timeout_s,
            "storage": self.storage.to_dict(),
            "broadcast_threshold_bytes": self.broadcast_threshold_bytes,
            "key_ttl_s": self.key_ttl_s,
            "heartbeat_timeout_s": self.heartbeat_timeout_s,
        }
        if self.shuffle_prefix is not None:
            out["shuffle_prefix"] = self.shuffle_prefix
        return out

    def to_json(self) -> str:
        """Compact, key-sorted JSON text (stable, so equal specs give equal text)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def with_(self, **changes: Any) -> JobSpec:
        """A copy with some fields replaced (validated again).

        :param changes: field values, e.g. ``world_size=4``.
        """
        return replace(self, **changes)

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the whole spec; raises :class:`SpecError` naming the first bad field."""
        _int(self.version, "version", low=SPEC_VERSION, high=SPEC_VERSION)
        _choice(self.op, "op", OPS)
        if not self.steps:
            raise _fail("steps", "expected at least one step")
        if self.op == "pipeline":
            if len(self.steps) < 1:
                raise _fail("steps", "a pipeline needs at least one step")
        else:
            if len(self.steps) != 1 or self.steps[0].op != self.op:
                raise _fail("op", f"op {self.op!r} must have exactly one step of that op (use op='pipeline' "
                                  f"for {[s.op for s in self.steps]!r})")
        if not self.inputs:
            raise _fail("inputs", "expected at least one input")
        for i, inp in enumerate(self.inputs):
            inp.validate(f"inputs[{i}]")
        self.output.validate("output")
        self.storage.validate("storage")
        _int(self.world_size, "world_size", low=1, high=MAX_WORLD_SIZE)
        _choice(self.channel, "channel", CHANNELS)
        _choice(self.compression, "compression", COMPRESSIONS)
        _number(self.timeout_s, "timeout_s")
        _int(self.broadcast_threshold_bytes, "broadcast_threshold_bytes", low=0)
        _int(self.key_ttl_s, "key_ttl_s", low=60)
        if _number(self.heartbeat_timeout_s, "heartbeat_timeout_s", positive=False) < 0:
            raise _fail("heartbeat_timeout_s", f"expected 0 (off) or a positive number but found {self.heartbeat_timeout_s}")
        # Names: inputs and step results share one namespace, each defined once.
        known: list[str] = []
        for i, inp in enumerate(self.inputs):
            if inp.name in known:
                raise _fail(f"inputs[{i}].name", f"duplicate name {inp.name!r}")
            known.append(inp.name)
        for i, step in enumerate(self.steps):
            where = f"steps[{i}]"
            step.validate(where)
            sources = self.step_inputs(i)
            try:
                step.check_arity(len(sources), f"{where}.inputs")
            except SpecError as err:
                raise _fail(f"{where}.inputs", f"{err.args[0].split(': ', 1)[1]} {list(sources)!r}; "
                                               "name them explicitly in inputs") from err
            for j, src in enumerate(sources):
                if src not in known:
                    raise _fail(f"{where}.inputs[{j}]", f"unknown input {src!r}; known: {known!r}")
            if step.name in known:
                raise _fail(f"{where}.name", f"duplicate name {step.name!r}")
            known.append(step.name)

    def step_inputs(self, index: int) -> tuple[str, ...]:
        """Names a step reads: explicit ones, else every job input (first step) or the previous result.

        :param index: step position.
        """
        step = self.steps[index]
        if step.inputs:
            return step.inputs
        if index == 0:
            return tuple(i.name for i in self.inputs)
        return (self.steps[index - 1].name,)

    def input_by_name(self, name: str) -> InputSpec | None:
        """The job input with that name, or ``None`` if it is a step result.

        :param name: an input name.
        """
        for inp in self.inputs:
            if inp.name == name:
                return inp
        return None

    @property
    def result_name(self) -> str:
        """Name of the published (last) step result."""
        return self.steps[-1].name
