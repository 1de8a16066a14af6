"""Simulated join plans at 64 and 1,000 workers: requests, bytes, time and cost per channel.

The numbers come from :mod:`airflow_provider_cylon.client.cost_model` (the same
projection the operators report); no AWS account is used. The seed's poster
reports about $0.012 for a 64-worker join; the table shows where our model puts
such a join and how the channels compare as the world grows.

    python benchmarks/plan_simulation.py            # markdown tables (docs/aws.md)
    python benchmarks/plan_simulation.py --json     # machine-readable
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from airflow_provider_cylon.client.cost_model import (
    CHANNELS,
    GiB,
    Plan,
    choose_plan,
    estimate,
    memory_for,
)

#: (world size, total input bytes of both join sides) of the simulated plans.
SCENARIOS: tuple[tuple[int, int], ...] = ((64, 4 * GiB), (64, 16 * GiB), (1000, 64 * GiB), (1000, 1024 * GiB))
#: Bytes per row of the simulated tables (an int64 key and one int64 payload column).
ROW_BYTES = 16
SEED_64_WORKER_JOIN_USD = 0.012


def simulate(world: int, input_bytes: int) -> list[dict[str, Any]]:
    """One row per channel for a join of ``input_bytes`` on ``world`` workers.

    :param world: number of workers.
    :param input_bytes: total input bytes.
    """
    memory = memory_for(input_bytes, world)
    rows = []
    for channel in CHANNELS:
        plan = Plan(world_size=world, channel=channel, input_bytes=input_bytes, rows=input_bytes // ROW_BYTES,
                    memory_mb=memory, op="join")
        p = estimate(plan)
        rows.append({
            "world_size": world, "input_gib": input_bytes / GiB, "channel": channel, "memory_mb": memory,
            "seconds": round(p.seconds, 2), "usd": round(p.usd, 4), "requests": p.requests,
            "gib_moved": round(p.bytes / GiB, 1),
            "shuffle_s": round(p.phases["shuffle"], 2),
            "lambda_usd": round(p.usd_parts["lambda_gb_s"] + p.usd_parts["lambda_requests"], 4),
            "s3_usd": round(p.usd_parts["s3_requests"], 4),
            "s3_requests": p.request_parts["s3_put"] + p.request_parts["s3_get"],
            "redis_ops": p.request_parts["redis_ops"],
            "pairings": p.request_parts["rendezvous_pairings"],
            "warnings": list(p.warnings),
        })
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    head = ("| workers | input | channel | memory | time (s) | cost ($) | Lambda $ | S3 $ | S3 req | Redis ops "
            "| pairings | GiB moved |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['world_size']} | {r['input_gib']:g} GiB | {r['channel']} | {r['memory_mb']} MB | {r['seconds']} "
            f"| {r['usd']} | {r['lambda_usd']} | {r['s3_usd']} | {r['s3_requests']:,} | {r['redis_ops']:,} "
            f"| {r['pairings']:,} | {r['gib_moved']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the simulated plans (markdown, or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [r for world, size in SCENARIOS for r in simulate(world, size)]
    chosen = []
    for _, size in SCENARIOS:
        plan = choose_plan(size, size // ROW_BYTES, channels=CHANNELS)
        p = estimate(plan)
        chosen.append({"input_gib": size / GiB, "world_size": plan.world_size, "channel": plan.channel,
                       "memory_mb": plan.memory_mb, "seconds": round(p.seconds, 2), "usd": round(p.usd, 4)})
    if args.json:
        print(json.dumps({"plans": rows, "chosen": chosen, "seed_64_worker_join_usd": SEED_64_WORKER_JOIN_USD},
                         indent=1))
        return 0
    print(markdown(rows))
    print()
    print("choose_plan (all three channels offered):")
    for c in chosen:
        print(f"- {c['input_gib']:g} GiB -> {c['world_size']} workers, {c['channel']}, {c['memory_mb']} MB: "
              f"{c['seconds']} s, ${c['usd']}")
    print(f"\nseed: about ${SEED_64_WORKER_JOIN_USD} for a 64-worker join")
    return 0


if __name__ == "__main__":
    sys.exit(main())
