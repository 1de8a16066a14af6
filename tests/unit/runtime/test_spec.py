"""JobSpec: JSON round trip, defaults, and errors that name the field."""
from __future__ import annotations

import json

import pytest

from airflow_provider_cylon.runtime.ops import SortStep
from airflow_provider_cylon.runtime.spec import JobSpec, format_of
from airflow_provider_cylon.runtime.errors import SpecError


def _pipeline() -> JobSpec:
    return JobSpec.from_dict({
        "op": "pipeline", "inputs": ["s3://b/orders/", {"path": "/data/users.csv", "name": "users"}],
        "output": {"destination": "s3://b/out", "format": "parquet"},
        "steps": [
            {"op": "join", "inputs": ["in0", "users"], "left_on": "user_id", "right_on": "id", "how": "left"},
            {"op": "groupby", "by": ["country"], "aggs": {"amount": ["sum", "mean"]}, "name": "per_country"},
            {"op": "sort", "by": ["amount_sum", "country"], "ascending": [False, True]},
        ],
        "world_size": 4, "channel": "tcp", "compression": "zstd", "timeout_s": 120,
        "storage": {"endpoint_override": "127.0.0.1:9000", "scheme": "http", "region": "us-east-1"},
    })


def test_round_trip_is_exact() -> None:
    spec = _pipeline()
    assert JobSpec.from_dict(spec.to_dict()) == spec
    assert JobSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["version"] == 1


def test_step_inputs_default_to_previous_result() -> None:
    spec = _pipeline()
    assert spec.step_inputs(0) == ("in0", "users")
    assert spec.step_inputs(1) == ("step0",)
    assert spec.step_inputs(2) == ("per_country",)
    assert spec.result_name == "step2"
    assert spec.steps[2].ascending == (False, True)
    assert spec.steps[1].aggs_dict == {"amount": ["sum", "mean"]}


def test_for_op_and_top_level_params() -> None:
    a = JobSpec.for_op("sort", ["x.parquet"], "/tmp/o", by="k", ascending=False, world_size=3)
    b = JobSpec.from_dict({"op": "sort", "inputs": ["x.parquet"], "destination": "/tmp/o", "by": "k",
                           "ascending": False, "world_size": 3})
    assert a == b
    assert a.steps[0] == SortStep(name="step0", by=("k",), ascending=(False,))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"op": "joinn"}, "op"),
        ({"op": "join", "inputs": ["a"], "output": "o", "on": "k"}, "steps[0].inputs"),
        ({"op": "join", "inputs": ["a", "b"], "output": "o", "on": "k", "how": "cross"}, "steps[0].how"),
        ({"op": "join", "inputs": ["a", "b"], "output": "o"}, "steps[0].on"),
        ({"op": "join", "inputs": ["a", "b"], "output": "o", "left_on": ["a", "b"], "right_on": "c"},
         "steps[0].right_on"),
        ({"op": "sort", "inputs": ["a"], "output": "o"}, "steps[0].by"),
        ({"op": "sort", "inputs": ["a"], "output": "o", "by": ["a", "b"], "ascending": [True]},
         "steps[0].ascending"),
        ({"op": "groupby", "inputs": ["a"], "output": "o", "by": "k", "aggs": {"v": "median"}},
         "steps[0].aggs.v[0]"),
        ({"op": "groupby", "inputs": ["a"], "output": "o", "by": "k"}, "steps[0].aggs"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "world_size": 0}, "world_size"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "channel": "carrier-pigeon"}, "channel"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "compression": "gzip"}, "compression"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "timeout_s": -1}, "timeout_s"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "storage": {"secret_key": "x"}}, "storage.secret_key"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "storage": {"aws_session_token": "x"}},
         "storage.aws_session_token"),
        ({"op": "unique", "inputs": [], "output": "o"}, "inputs"),
        ({"op": "unique", "inputs": ["a"], "output": {"destination": "o/*"}}, "output.destination"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "version": 2}, "version"),
        ({"op": "pipeline", "inputs": ["a"], "output": "o"}, "steps"),
        ({"op": "pipeline", "inputs": ["a"], "output": "o", "steps": [{"op": "unique", "inputs": ["nope"]}]},
         "steps[0].inputs[0]"),
        ({"op": "unique", "inputs": ["a"], "output": "o", "bogus": 1}, "steps[0].bogus"),
    ],
)
def test_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict(data)
    assert info.value.field == field, str(info.value)
    assert field in str(info.value)


def test_spec_is_frozen() -> None:
    spec = _pipeline()
    with pytest.raises(AttributeError):
        spec.world_size = 8  # type: ignore[misc]
    assert spec.with_(world_size=8).world_size == 8
    with pytest.raises(SpecError):
        spec.with_(world_size=-1)


def test_format_by_extension() -> None:
    assert format_of("s3://b/x.CSV") == "csv"
    assert format_of("/d/*.arrow") == "arrow"
    assert format_of("/d/part-0.parquet") == "parquet"
    assert format_of("/d/prefix/") == "parquet"
