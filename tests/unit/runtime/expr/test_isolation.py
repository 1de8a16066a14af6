"""Workers import the expression runtime without a parser, Airflow, numpy, pandas or the client package."""
from __future__ import annotations

import subprocess
import sys

# pyarrow itself loads numpy/pandas when they are installed, so the check blocks them: with
# sys.modules[name] = None any import of them fails, and the whole runtime path must still work.
CODE = """
import sys
for name in ("numpy", "pandas", "sqlglot", "airflow", "airflow_provider_cylon.client"):
    sys.modules[name] = None
import pyarrow as pa
import airflow_provider_cylon.runtime.expr as expr
table = pa.table({"a": pa.array([1, 2, None]), "s": pa.array(["x", None, "é"], pa.string_view())})
tree = {"fn": "and", "args": [{"fn": "gt", "args": [{"col": "a"}, {"lit": 1, "type": "integer"}]},
                              {"fn": "like", "args": [{"col": "s"}, {"lit": "%", "type": "varchar"}]}]}
e = expr.Expr.from_json({"sql": "a > 1 and s like '%'", "tree": tree}, where="steps[0].where")
assert e.filter(table).num_rows == 0
assert e.evaluate(table).to_pylist() == [False, None, None]
assert e.pushdown_filter(table.schema) is not None
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlglot", "airflow") and sys.modules[m] is not None)
print(",".join(loaded))
"""


def test_runtime_expr_loads_neither_sqlglot_nor_airflow() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"loaded: {out.stdout.strip()}"
