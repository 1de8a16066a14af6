"""Scale and cost model: projected time, money, requests and bytes of one job on AWS Lambda.

The model is deliberately small and explicit: every input is a named field of
:class:`AwsInputs` with its source, and every phase of a worker's life
(start, read, partition, shuffle, local op, write, commit) is one term of
:func:`estimate`. It answers two questions for the Airflow glue:

* :func:`project` -- what will this plan (world size, channel, memory) cost,
  in seconds, dollars, requests and bytes moved? This is what the operator
  reports as the job's cost.
* :func:`choose_plan` -- when the user sets neither ``parallelism`` nor
  ``channel``, which world size and channel should we use?

A worker's time is the sum of its phases; all workers start within the
Lambda scaling window and then wait on each other at the shuffle barrier, so
the job time is the slowest worker's time and every worker is billed for it
(the GB-s term). Channels differ in the shuffle term:

``redis``
    every shuffled byte goes through one Redis node twice (SET, then GET):
    bounded by the node's bandwidth and its single-threaded operation rate.
``s3``
    every (sender, receiver) pair is one PUT and one GET: bounded by request
    latency, by the per-prefix request rates and priced per request.
``tcp-punch``
    every pair is punched through the rendezvous server once, then bytes flow
    worker to worker: bounded only by the Lambda network per function.

No Airflow import here: the runtime and the Lambda image use this module too.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal, TypedDict

Channel = Literal["redis", "s3", "tcp-punch"]
CHANNELS: tuple[Channel, ...] = ("redis", "s3", "tcp-punch")

#: Operations whose data is shuffled once (hash or range partition) before the local step.
SHUFFLE_OPS: frozenset[str] = frozenset(
    {"join", "union", "intersect", "difference", "unique", "sort", "groupby"}
)

MiB = 1024 * 1024
GiB = 1024 * MiB


class CostModelError(ValueError):
    """A plan or an input of the cost model is out of range (names the field and the value)."""


@dataclass(frozen=True)
class AwsInputs:
    """Every number the model uses, with where it comes from.

    The first block is given by the design (issue 5); the second block are
    documented assumptions that the benchmarks on this repository support.
    """

    #: Lambda network per function, each direction (bytes/s). Given: ~75 MB/s.
    lambda_network_bytes_per_s: float = 75e6
    #: S3 first-byte latency per request (s). Given: ~15 ms.
    s3_request_latency_s: float = 0.015
    #: S3 request rates per prefix (per second). Given: 3,500 PUT, 5,500 GET.
    s3_put_per_s_per_prefix: float = 3500.0
    s3_get_per_s_per_prefix: float = 5500.0
    #: Lambda price (us-east-1, x86). Given: $0.0000166667 per GB-s, $0.20 per million requests.
    lambda_usd_per_gb_s: float = 0.0000166667
    lambda_usd_per_request: float = 0.20 / 1e6
    #: Lambda scaling: new execution environments per window. Given: 1,000 per 10 s.
    lambda_scale_step: int = 1000
    lambda_scale_window_s: float = 10.0

    # -- assumptions (documented in docs/aws.md) -------------------------------
    #: S3 request prices, us-east-1 Standard: $0.005 per 1,000 PUT, $0.0004 per 1,000 GET.
    s3_usd_per_put: float = 0.005 / 1000
    s3_usd_per_get: float = 0.0004 / 1000
    #: Concurrent S3 requests one worker keeps in flight (thread pool of the s3 channel).
    s3_concurrency_per_worker: int = 16
    #: Bandwidth of the Redis node (bytes/s): a 10 Gbit/s ElastiCache/Valkey node.
    redis_bytes_per_s: float = 1.1e9
    #: Operations per second one Redis node serves (single-threaded command loop).
    redis_ops_per_s: float = 100_000.0
    #: Rendezvous pairings per second one asyncio server process completes (measured here:
    #: about 2,200 per CPU-second, i.e. ~0.45 ms of server CPU per pairing of two peers).
    rendezvous_pairs_per_s: float = 2_000.0
    #: Rendezvous servers the pairs are sharded over (CYLON_RENDEZVOUS lists them).
    rendezvous_servers: int = 1
    #: Round trips of one punch (register, peer address, simultaneous connect), seconds.
    punch_latency_s: float = 0.010
    #: Links one worker punches in parallel.
    punch_concurrency_per_worker: int = 32
    #: Cold start of the container image (s) and client-side invoke rate (invocations/s;
    #: benchmarks/fanout.py measures the executor's rate against a throttling endpoint).
    cold_start_s: float = 1.5
    invoke_per_s: float = 1000.0
    #: Kernel throughput per vCPU (bytes/s) for one pass (partition or local op).
    kernel_bytes_per_s_per_vcpu: float = 150e6
    #: Lambda gives one vCPU per 1,769 MB of memory (up to 6 vCPUs at 10,240 MB).
    mb_per_vcpu: float = 1769.0
    #: Memory a worker needs per byte of its input share (input, partitions, output, IPC buffers).
    memory_expansion: float = 4.0
    #: Memory the interpreter, pyarrow and the kernel need before any data (MB).
    memory_base_mb: int = 512
    #: Lambda memory limits (MB) and timeout (s).
    lambda_min_memory_mb: int = 128
    lambda_max_memory_mb: int = 10240
    lambda_timeout_s: float = 900.0
    #: Redis/Valkey round trip for coordination (rank, all_gather, barrier, status).
    redis_rtt_s: float = 0.001


DEFAULT_INPUTS = AwsInputs()


@dataclass(frozen=True)
class Plan:
    """One way to run a job: how many workers, which channel, how much memory each.

    :param world_size: number of workers (Lambda invocations), >= 1.
    :param channel: shuffle transport: ``redis``, ``s3`` or ``tcp-punch``.
    :param input_bytes: total bytes of all inputs (in memory, uncompressed Arrow).
    :param rows: total rows of all inputs.
    :param memory_mb: Lambda memory per worker (MB).
    :param op: the operation (``join``, ``sort``, ...); only its shuffle matters.
    :param output_ratio: output bytes / input bytes (1.0 for a key-preserving join).
    :param input_files: number of input objects to read (S3 GETs).
    """

    world_size: int
    channel: Channel
    input_bytes: int
    rows: int
    memory_mb: int = 2048
    op: str = "join"
    output_ratio: float = 1.0
    input_files: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise CostModelError(f"Plan.world_size must be >= 1, got {self.world_size}")
        if self.channel not in CHANNELS:
            raise CostModelError(f"Plan.channel must be one of {CHANNELS}, got {self.channel!r}")
        if self.input_bytes < 0 or self.rows < 0:
            raise CostModelError(
                f"Plan.input_bytes and Plan.rows must be >= 0, got {self.input_bytes} and {self.rows}"
            )
        if self.output_ratio < 0:
            raise CostModelError(f"Plan.output_ratio must be >= 0, got {self.output_ratio}")
        if self.memory_mb < 128 or self.memory_mb > 10240:
            raise CostModelError(f"Plan.memory_mb must be within 128..10240 MB, got {self.memory_mb}")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for XCom and logs)."""
        return asdict(self)


@dataclass(frozen=True)
class Projection:
    """What a plan is projected to cost; ``phases`` splits the seconds of the slowest worker.

    :param seconds: wall time from the first invocation to the commit.
    :param usd: Lambda GB-s + Lambda requests + S3 requests.
    :param requests: Lambda invocations + S3 requests + Redis operations + rendezvous pairings.
    :param bytes: bytes moved over the network (read + shuffle + write).
    """

    seconds: float
    usd: float
    requests: int
    bytes: int
    phases: dict[str, float] = field(default_factory=dict)
    usd_parts: dict[str, float] = field(default_factory=dict)
    request_parts: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class ProjectionDict(TypedDict):
    """The projection the operator reports (JSON-ready)."""

    seconds: float
    usd: float
    requests: int
    bytes: int


def _vcpus(memory_mb: int, inputs: AwsInputs) -> float:
    return min(6.0, memory_mb / inputs.mb_per_vcpu)


def memory_for(input_bytes: int, world_size: int, inputs: AwsInputs = DEFAULT_INPUTS) -> int:
    """Smallest Lambda memory (MB, multiple of 64) that holds one worker's share.

    :param input_bytes: total input bytes of the job.
    :param world_size: number of workers sharing them.
    :param inputs: model inputs.
    :raises CostModelError: when one share needs more than the Lambda maximum.
    """
    share = input_bytes / world_size
    need_mb = inputs.memory_base_mb + share * inputs.memory_expansion / MiB
    mb = max(inputs.lambda_min_memory_mb, int(math.ceil(need_mb / 64.0) * 64))
    if mb > inputs.lambda_max_memory_mb:
        raise CostModelError(
            f"world_size={world_size} gives each worker {share / GiB:.2f} GiB of input, which needs "
            f"{mb} MB of memory (> Lambda's {inputs.lambda_max_memory_mb} MB): use more workers"
        )
    return mb


def _shuffle(plan: Plan, inputs: AwsInputs) -> tuple[float, dict[str, int], float, int]:
    """Shuffle term: (seconds, requests by kind, usd, bytes over the network)."""
    w = plan.world_size
    if w == 1 or plan.op not in SHUFFLE_OPS:
        return 0.0, {}, 0.0, 0
    share = plan.input_bytes / w
    # Each worker keeps 1/w of its share and sends the rest: (w-1)/w of it.
    send = share * (w - 1) / w
    total_moved = send * w
    pairs = w * (w - 1)  # ordered (sender, receiver) pairs with a message each
    net = inputs.lambda_network_bytes_per_s
    if plan.channel == "redis":
        ops = 2 * pairs  # SET by sender, GET by receiver (one message per pair)
        per_worker = send / net + send / net  # upload then download through the node
        node = 2 * total_moved / inputs.redis_bytes_per_s + ops / inputs.redis_ops_per_s
        seconds = max(per_worker, node)
        return seconds, {"redis_ops": ops}, 0.0, int(2 * total_moved)
    if plan.channel == "s3":
        puts = gets = pairs
        # Latency-bound part: w-1 requests each way, s3_concurrency_per_worker in flight.
        rounds = math.ceil((w - 1) / inputs.s3_concurrency_per_worker)
        latency = 2 * rounds * inputs.s3_request_latency_s
        per_worker = latency + 2 * send / net
        # Rate-bound part: one prefix per receiving rank, so w prefixes share the load.
        prefix_rate_put = inputs.s3_put_per_s_per_prefix * w
        prefix_rate_get = inputs.s3_get_per_s_per_prefix * w
        rate = puts / prefix_rate_put + gets / prefix_rate_get
        seconds = max(per_worker, rate)
        usd = puts * inputs.s3_usd_per_put + gets * inputs.s3_usd_per_get
        return seconds, {"s3_put": puts, "s3_get": gets}, usd, int(2 * total_moved)
    # tcp-punch: one pairing per unordered pair, then direct full-duplex links.
    pairings = w * (w - 1) // 2
    rounds = math.ceil((w - 1) / inputs.punch_concurrency_per_worker)
    server_rate = inputs.rendezvous_pairs_per_s * max(1, inputs.rendezvous_servers)
    punch = max(rounds * inputs.punch_latency_s, pairings / server_rate)
    transfer = send / net  # full duplex: sending and receiving overlap
    return punch + transfer, {"rendezvous_pairings": pairings}, 0.0, int(total_moved)


def estimate(plan: Plan, inputs: AwsInputs = DEFAULT_INPUTS) -> Projection:
    """Project one plan phase by phase (see the module docstring for the model).

    :param plan: the plan to project.
    :param inputs: model inputs (prices, rates, limits).
    :returns: the projection with its per-phase, per-price and per-request breakdown.
    """
    w = plan.world_size
    share = plan.input_bytes / w
    out_share = share * plan.output_ratio
    net = inputs.lambda_network_bytes_per_s
    rate = inputs.kernel_bytes_per_s_per_vcpu * min(1.0, _vcpus(plan.memory_mb, inputs))
    files = max(plan.input_files, w)  # at least one object per worker

    # Start: the client's invoke rate, then one scaling window per 1,000 beyond the first.
    windows = (w - 1) // inputs.lambda_scale_step
    start = w / inputs.invoke_per_s + inputs.cold_start_s + windows * inputs.lambda_scale_window_s
    coordination = 6 * inputs.redis_rtt_s + (w / inputs.redis_ops_per_s) * 4
    reads = math.ceil(files / w)
    read = reads * inputs.s3_request_latency_s + share / net
    partition = share / rate if w > 1 and plan.op in SHUFFLE_OPS else 0.0
    shuffle_s, shuffle_req, shuffle_usd, shuffle_bytes = _shuffle(plan, inputs)
    local = share / rate
    write = 2 * inputs.s3_request_latency_s + out_share / net
    commit = 3 * inputs.s3_request_latency_s + w / inputs.s3_put_per_s_per_prefix

    phases = {
        "start": start,
        "coordinate": coordination,
        "read": read,
        "partition": partition,
        "shuffle": shuffle_s,
        "local_op": local,
        "write": write,
        "commit": commit,
    }
    seconds = sum(phases.values())
    # Every worker is billed from its start to the end of the job (it waits at barriers);
    # the first invocation windows' workers also wait for later windows.
    billed_s = seconds - w / inputs.invoke_per_s
    gb_s = w * plan.memory_mb / 1024.0 * billed_s
    s3_puts = w + 1 + shuffle_req.get("s3_put", 0)  # part files + manifest + shuffle
    s3_gets = files + shuffle_req.get("s3_get", 0)
    usd_parts = {
        "lambda_gb_s": gb_s * inputs.lambda_usd_per_gb_s,
        "lambda_requests": w * inputs.lambda_usd_per_request,
        "s3_requests": (w + 1) * inputs.s3_usd_per_put + files * inputs.s3_usd_per_get + shuffle_usd,
    }
    request_parts = {
        "lambda_invoke": w,
        "s3_put": s3_puts,
        "s3_get": s3_gets,
        "redis_ops": shuffle_req.get("redis_ops", 0) + 12 * w,
        "rendezvous_pairings": shuffle_req.get("rendezvous_pairings", 0),
    }
    moved = int(plan.input_bytes + shuffle_bytes + plan.input_bytes * plan.output_ratio)
    warnings: list[str] = []
    if seconds > inputs.lambda_timeout_s:
        warnings.append(
            f"projected {seconds:.0f} s exceeds the Lambda timeout of {inputs.lambda_timeout_s:.0f} s"
        )
    try:
        need = memory_for(plan.input_bytes, w, inputs)
    except CostModelError as err:
        warnings.append(str(err))
    else:
        if need > plan.memory_mb:
            warnings.append(f"memory_mb={plan.memory_mb} is below the {need} MB one worker's share needs")
    return Projection(
        seconds=seconds,
        usd=sum(usd_parts.values()),
        requests=sum(request_parts.values()),
        bytes=moved,
        phases=phases,
        usd_parts=usd_parts,
        request_parts=request_parts,
        warnings=tuple(warnings),
    )


def project(plan: Plan, inputs: AwsInputs = DEFAULT_INPUTS) -> ProjectionDict:
    """Projected cost of ``plan`` on AWS Lambda, as the operator reports it.

    :param plan: world size, channel, memory and the job's size (see :class:`Plan`).
    :param inputs: model inputs; defaults are the documented AWS figures.
    :returns: ``{"seconds", "usd", "requests", "bytes"}``: wall seconds from the
        first invocation to the committed output; US dollars for Lambda GB-s,
        Lambda requests and S3 requests (Redis and the rendezvous server are
        fixed infrastructure, not counted); the number of requests of every
        kind (Lambda invocations, S3 PUT/GET, Redis operations, rendezvous
        pairings); and the bytes moved over the network (read, shuffle, write).
    """
    p = estimate(plan, inputs)
    return {"seconds": round(p.seconds, 3), "usd": round(p.usd, 6), "requests": p.requests, "bytes": p.bytes}


def _candidate_sizes(max_parallelism: int) -> Iterable[int]:
    w = 1
    while w < max_parallelism:
        yield w
        w *= 2
    yield max_parallelism


def choose_plan(
    input_bytes: int,
    rows: int,
    *,
    parallelism: int | None = None,
    channel: Channel | None = None,
    channels: Sequence[Channel] = ("redis", "s3"),
    op: str = "join",
    max_parallelism: int = 1000,
    max_seconds: float | None = None,
    cost_slack: float = 0.25,
    output_ratio: float = 1.0,
    input_files: int = 0,
    inputs: AwsInputs = DEFAULT_INPUTS,
) -> Plan:
    """Pick world size, channel and memory when the user did not fix them.

    Candidates are powers of two up to ``max_parallelism`` (plus that bound)
    times the allowed channels, each with the smallest memory that fits its
    share. Among those that fit Lambda's memory and timeout, the choice is the
    fastest plan whose cost is at most ``(1 + cost_slack)`` times the cheapest
    one's: money first, then time within that margin.

    :param input_bytes: total bytes of all inputs (uncompressed Arrow size).
    :param rows: total rows of all inputs.
    :param parallelism: fixed world size (the user's choice), or ``None`` to choose.
    :param channel: fixed channel (the user's choice), or ``None`` to choose.
    :param channels: channels available when choosing; add ``"tcp-punch"`` only
        when a rendezvous server is configured.
    :param op: the operation (only whether it shuffles matters).
    :param max_parallelism: upper bound on the world size (account concurrency).
    :param max_seconds: optional deadline; plans projected slower are dropped.
    :param cost_slack: how much more money (fraction) a faster plan may cost.
    :param output_ratio: output bytes / input bytes.
    :param input_files: number of input objects.
    :param inputs: model inputs.
    :raises CostModelError: when no candidate fits the limits.
    """
    if input_bytes < 0 or rows < 0:
        raise CostModelError(f"input_bytes and rows must be >= 0, got {input_bytes} and {rows}")
    if max_parallelism < 1:
        raise CostModelError(f"max_parallelism must be >= 1, got {max_parallelism}")
    if parallelism is not None and parallelism < 1:
        raise CostModelError(f"parallelism must be >= 1, got {parallelism}")
    if channel is not None and channel not in CHANNELS:
        raise CostModelError(f"channel must be one of {CHANNELS}, got {channel!r}")
    sizes = [parallelism] if parallelism is not None else list(_candidate_sizes(max_parallelism))
    chans: Sequence[Channel] = [channel] if channel is not None else list(channels)
    candidates: list[tuple[Plan, Projection]] = []
    rejected: list[str] = []
    for w in sizes:
        try:
            mem = memory_for(input_bytes, w, inputs)
        except CostModelError as err:
            rejected.append(str(err))
            continue
        for ch in chans:
            plan = Plan(
                world_size=w,
                channel=ch,
                input_bytes=input_bytes,
                rows=rows,
                memory_mb=mem,
                op=op,
                output_ratio=output_ratio,
                input_files=input_files,
            )
            proj = estimate(plan, inputs)
            limit = inputs.lambda_timeout_s if max_seconds is None else min(max_seconds, inputs.lambda_timeout_s)
            if proj.seconds > limit:
                rejected.append(f"world_size={w} channel={ch}: {proj.seconds:.0f} s > {limit:.0f} s")
                continue
            candidates.append((plan, proj))
    if not candidates:
        detail = "; ".join(rejected[-3:])
        raise CostModelError(
            f"no plan for input_bytes={input_bytes} rows={rows} fits Lambda's limits "
            f"(max_parallelism={max_parallelism}): {detail}"
        )
    cheapest = min(p.usd for _, p in candidates)
    affordable = [(pl, pr) for pl, pr in candidates if pr.usd <= cheapest * (1.0 + cost_slack) + 1e-12]
    best_plan, _ = min(affordable, key=lambda c: (c[1].seconds, c[1].usd, c[0].world_size))
    return best_plan


def with_channel(plan: Plan, channel: Channel) -> Plan:
    """The same plan over another channel (for side-by-side projections).

    :param plan: the plan to copy.
    :param channel: the channel of the copy.
    """
    return replace(plan, channel=channel)
