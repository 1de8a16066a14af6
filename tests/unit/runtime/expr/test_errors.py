"""Validation errors name the whole expression, the offending fragment, the column with its type, and the field."""
from __future__ import annotations

import pyarrow as pa
import pytest

from airflow_provider_cylon.client.sql import parse_expression
from airflow_provider_cylon.runtime.errors import SpecError
from airflow_provider_cylon.runtime.expr import Expr, ExpressionError

SCHEMA = pa.schema([
    ("l_shipdate", pa.date32()), ("l_shipmode", pa.string_view()), ("l_discount", pa.decimal128(15, 2)),
    ("l_quantity", pa.int64()), ("l_commitdate", pa.date32()),
])
WHERE = "steps[2].where"


def error_of(sql: str, schema: pa.Schema = SCHEMA) -> ExpressionError:
    expr = Expr.from_json(parse_expression(sql, where=WHERE), where=WHERE)
    with pytest.raises(ExpressionError) as info:
        expr.output_type(schema)
    err = info.value
    assert isinstance(err, SpecError)
    assert err.where == WHERE and err.field == WHERE
    assert str(err).startswith(f"JobSpec field {WHERE!r}: ")
    assert repr(sql) in str(err), "the message names the whole expression"
    return err


def test_unknown_column_suggests_the_closest_name_with_its_type() -> None:
    err = error_of("l_shipdat <= date '1998-09-02' and l_quantity > 1")
    text = str(err)
    assert "unknown column 'l_shipdat'" in text
    assert "did you mean 'l_shipdate' (date32[day])?" in text
    assert err.fragment == "l_shipdat"
    assert "l_quantity (int64)" in text, "the message lists the input's columns with types"


def test_case_slip_is_suggested() -> None:
    assert "did you mean 'l_shipmode'" in str(error_of("L_SHIPMODE = 'AIR'"))


def test_unknown_column_without_a_close_name_lists_the_columns() -> None:
    text = str(error_of("zzz = 1"))
    assert "did you mean" not in text and "l_shipdate (date32[day])" in text


def test_string_plus_integer() -> None:
    err = error_of("'abc' + 1")
    assert "type mismatch" in str(err) and "'abc' (string)" in str(err) and "1 (int32)" in str(err)


def test_column_type_mismatch_names_the_column_and_type() -> None:
    err = error_of("l_quantity > 0 and l_shipmode + 1 > 2")
    assert "column l_shipmode (string_view)" in str(err)
    assert err.fragment == "l_shipmode + 1"


def test_date_compared_with_a_string_that_is_not_a_date() -> None:
    err = error_of("l_shipdate >= '1998-13-45' or l_quantity = 1")
    text = str(err)
    assert "column l_shipdate (date32[day])" in text and "'1998-13-45'" in text and "not a valid date" in text
    assert err.fragment == "l_shipdate >= '1998-13-45'"


def test_a_date_string_is_fine() -> None:
    Expr.from_json(parse_expression("l_shipdate >= '1998-12-01'")).output_type(SCHEMA)


def test_date_compared_with_a_number() -> None:
    err = error_of("l_shipdate < l_quantity")
    assert "column l_shipdate (date32[day])" in str(err) and "column l_quantity (int64)" in str(err)


def test_boolean_operands() -> None:
    assert "AND needs boolean operands, found column l_quantity (int64)" in str(error_of("l_quantity AND TRUE"))


def test_like_needs_a_string() -> None:
    assert "LIKE needs a string operand, found column l_quantity (int64)" in str(error_of("l_quantity LIKE 'a%'"))


def test_interval_minus_a_date() -> None:
    err = error_of("INTERVAL '1' MONTH - l_shipdate < l_commitdate")
    assert "type mismatch" in str(err) and "column l_shipdate (date32[day])" in str(err)


def test_cast_that_cannot_be() -> None:
    assert "cannot CAST column l_shipdate (date32[day]) to INTEGER" in str(error_of("CAST(l_shipdate AS integer)"))


def test_predicate_must_be_boolean() -> None:
    expr = Expr.from_json(parse_expression("l_quantity + 1"), where=WHERE)
    with pytest.raises(ExpressionError, match=r"predicate must be boolean.*int64"):
        expr.check_predicate(SCHEMA)
    table = pa.table({"l_quantity": pa.array([1], pa.int64())})
    with pytest.raises(ExpressionError, match="predicate must be boolean"):
        expr.filter(table)


@pytest.mark.parametrize("tree, needle", [
    ({"fn": "foo", "args": []}, "tree.fn: unsupported function 'foo'"),
    ({"fn": "add", "args": [{"col": "a"}]}, "tree: add takes 2 arguments, found 1"),
    ({"lit": "x", "type": "integer"}, "literal value 'x' does not fit its type 'integer'"),
    ({"col": 3}, "tree.col: expected a non-empty column name"),
    ([1], "tree: expected an object"),
    ({"cast": {"col": "a"}, "to": "weird"}, "unsupported type 'weird'"),
    ({"fn": "and", "args": [{"col": "a"}, {"fn": "eq", "args": [{"col": "b"}, {"lit": 1}]}]},
     "tree.args[1].args[1]: expected an object with exactly one of the shapes"),
    ({"case": [[{"col": "a"}]]}, "tree.case[0]: expected a [when, then] pair"),
])
def test_structural_errors_name_the_path_in_the_tree(tree, needle) -> None:
    with pytest.raises(ExpressionError) as info:
        Expr.from_json({"sql": "a + b", "tree": tree}, where="inputs.lineitem.where")
    assert needle in str(info.value)
    assert info.value.where == "inputs.lineitem.where"
    assert "'a + b'" in str(info.value)


def test_evaluation_errors_name_the_fragment() -> None:
    table = pa.table({"l_quantity": pa.array([1, 0], pa.int64())})
    expr = Expr.from_json(parse_expression("l_quantity + 10 // l_quantity"), where=WHERE)
    with pytest.raises(ExpressionError) as info:
        expr.evaluate(table)
    assert "10 // l_quantity" in str(info.value) and WHERE in str(info.value)


def test_no_where_gives_a_plain_message() -> None:
    with pytest.raises(ExpressionError) as info:
        Expr.from_json(parse_expression("nope > 1")).output_type(SCHEMA)
    assert str(info.value).startswith("unknown column 'nope'")
