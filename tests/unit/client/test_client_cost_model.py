"""The scale and cost model: formulas, limits and the plan chooser."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cylon.client.cost_model import (
    CHANNELS,
    GiB,
    AwsInputs,
    CostModelError,
    Plan,
    choose_plan,
    estimate,
    memory_for,
    project,
)


def _plan(world: int, channel: str, gib: float = 4.0, **kw: object) -> Plan:
    b = int(gib * GiB)
    return Plan(world_size=world, channel=channel, input_bytes=b, rows=b // 16,
                memory_mb=memory_for(b, world), **kw)  # type: ignore[arg-type]


def test_project_reports_the_four_figures_as_json_numbers() -> None:
    out = project(_plan(64, "redis"))
    assert set(out) == {"seconds", "usd", "requests", "bytes"}
    assert isinstance(out["requests"], int) and isinstance(out["bytes"], int)
    assert out["seconds"] > 0 and out["usd"] > 0


def test_s3_channel_counts_one_put_and_one_get_per_ordered_pair() -> None:
    p = estimate(_plan(64, "s3"))
    pairs = 64 * 63
    assert p.request_parts["s3_put"] == pairs + 64 + 1  # shuffle + part files + manifest
    assert p.request_parts["s3_get"] == pairs + 64
    inputs = AwsInputs()
    shuffle_usd = pairs * (inputs.s3_usd_per_put + inputs.s3_usd_per_get)
    assert p.usd_parts["s3_requests"] == pytest.approx(shuffle_usd + 65 * inputs.s3_usd_per_put + 64 * inputs.s3_usd_per_get)


def test_tcp_punch_pairs_each_unordered_pair_once_and_moves_bytes_once() -> None:
    redis = estimate(_plan(64, "redis"))
    punch = estimate(_plan(64, "tcp-punch"))
    assert punch.request_parts["rendezvous_pairings"] == 64 * 63 // 2
    # Redis relays every shuffled byte twice (SET + GET); direct links move it once.
    assert redis.bytes - punch.bytes == pytest.approx(punch.bytes - 2 * 4 * GiB, rel=1e-6)
    assert punch.phases["shuffle"] < redis.phases["shuffle"]


def test_gb_seconds_price_is_memory_times_billed_time() -> None:
    inputs = AwsInputs()
    plan = _plan(64, "tcp-punch")
    p = estimate(plan, inputs)
    billed = p.seconds - 64 / inputs.invoke_per_s
    assert p.usd_parts["lambda_gb_s"] == pytest.approx(64 * plan.memory_mb / 1024 * billed * inputs.lambda_usd_per_gb_s)
    assert p.usd_parts["lambda_requests"] == pytest.approx(64 * 0.20 / 1e6)


def test_scaling_beyond_one_thousand_waits_one_window_per_thousand() -> None:
    small = estimate(_plan(1000, "redis", gib=8))
    big = estimate(_plan(2000, "redis", gib=8))
    assert big.phases["start"] - small.phases["start"] == pytest.approx(10.0 + 1.0)  # window + 1,000 invokes


def test_the_64_worker_join_is_in_the_range_of_the_seed_figure() -> None:
    """The seed reports about $0.012 for a 64-worker join; a 4 GiB join projects within 2x."""
    usd = [project(_plan(64, ch))["usd"] for ch in ("redis", "tcp-punch")]
    assert all(0.006 / 2 < u < 0.012 * 2 for u in usd), usd


@given(gib=st.floats(min_value=0.01, max_value=64), world=st.sampled_from([1, 2, 16, 64, 256]),
       channel=st.sampled_from(CHANNELS))
def test_more_input_never_costs_less_or_runs_faster(gib: float, world: int, channel: str) -> None:
    try:
        a = estimate(_plan(world, channel, gib=gib))
        b = estimate(_plan(world, channel, gib=gib * 2))
    except CostModelError:
        return  # share too big for one Lambda: covered elsewhere
    assert b.seconds >= a.seconds and b.usd >= a.usd and b.bytes >= a.bytes


def test_memory_for_names_the_limit_when_a_share_does_not_fit() -> None:
    with pytest.raises(CostModelError, match=r"world_size=1 .*10240 MB"):
        memory_for(100 * GiB, 1)
    assert memory_for(0, 8) == 512


def test_plan_validation_names_the_field() -> None:
    with pytest.raises(CostModelError, match="Plan.world_size"):
        Plan(world_size=0, channel="redis", input_bytes=1, rows=1)
    with pytest.raises(CostModelError, match="Plan.channel .*'udp'"):
        Plan(world_size=2, channel="udp", input_bytes=1, rows=1)  # type: ignore[arg-type]


def test_choose_plan_keeps_the_users_choices() -> None:
    plan = choose_plan(4 * GiB, 1 << 28, parallelism=64, channel="s3")
    assert (plan.world_size, plan.channel) == (64, "s3")
    assert plan.memory_mb == memory_for(4 * GiB, 64)


def test_choose_plan_runs_small_inputs_on_one_worker_and_big_ones_wide() -> None:
    assert choose_plan(1 << 20, 1000).world_size == 1
    wide = choose_plan(200 * GiB, 1 << 33)
    assert wide.world_size >= 64
    assert project(wide)["seconds"] <= 900


def test_choose_plan_uses_tcp_punch_only_when_offered() -> None:
    assert choose_plan(16 * GiB, 1 << 30).channel in ("redis", "s3")
    assert choose_plan(16 * GiB, 1 << 30, channels=CHANNELS).channel == "tcp-punch"


def test_choose_plan_explains_when_nothing_fits() -> None:
    with pytest.raises(CostModelError, match="max_parallelism=2"):
        choose_plan(100 * GiB, 1, max_parallelism=2)


def test_sharding_pairs_over_rendezvous_servers_shortens_the_punch_phase() -> None:
    one = estimate(_plan(1000, "tcp-punch", gib=64))
    eight = estimate(_plan(1000, "tcp-punch", gib=64), AwsInputs(rendezvous_servers=8))
    pairings = 1000 * 999 // 2
    assert one.phases["shuffle"] >= pairings / AwsInputs().rendezvous_pairs_per_s
    assert eight.phases["shuffle"] < one.phases["shuffle"] / 4
