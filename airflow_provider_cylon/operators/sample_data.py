"""Deterministic sample orders and customers for the example DAGs and ``make demo``.

:func:`write_sample_data` needs only pyarrow (the demo CLI calls it without
Airflow's task machinery); :class:`CylonSampleDataOperator` wraps it for DAGs.
Data for a date is a pure function of the date and the sizes, and is written only
when missing, so re-runs and parallel DAG runs read identical inputs.
"""
from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

COUNTRIES = ("US", "DE", "IN", "BR", "JP", "FR", "GB", "NG")


def _filesystem(root: str) -> tuple[Any, str]:
    from pyarrow import fs

    if "://" in root:
        return fs.FileSystem.from_uri(root)
    import os

    return fs.LocalFileSystem(), os.path.abspath(root)


def _exists(filesystem: Any, path: str) -> bool:
    from pyarrow import fs

    return bool(filesystem.get_file_info(path).type != fs.FileType.NotFound)


def _write(filesystem: Any, path: str, table: Any) -> None:
    import pyarrow.parquet as pq

    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = f"{path}.tmp"
    pq.write_table(table, tmp, filesystem=filesystem)
    filesystem.move(tmp, path)  # readers never see a half-written file


def customers_table(num_customers: int) -> Any:
    """``customer_id, name, country`` (about 2% of countries null).

    :param num_customers: rows.
    """
    import pyarrow as pa

    rng = random.Random(7)
    ids = list(range(1, num_customers + 1))
    country = [None if rng.random() < 0.02 else rng.choice(COUNTRIES) for _ in ids]
    return pa.table({"customer_id": pa.array(ids, pa.int64()),
                     "name": pa.array([f"customer-{i:06d}" for i in ids]),
                     "country": pa.array(country, pa.string())})


def orders_table(ds: str, num_orders: int, num_customers: int, start_id: int = 0) -> Any:
    """``order_id, customer_id, amount, quantity, order_date`` for one date.

    About 1% of customer ids are null and 2% name unknown customers, so joins meet
    nulls and misses; a few amounts are null.

    :param ds: the date (``YYYY-MM-DD``).
    :param num_orders: rows.
    :param num_customers: customer id range.
    :param start_id: first order id.
    """
    import pyarrow as pa

    rng = random.Random(zlib.crc32(f"{ds}:{start_id}".encode()))
    customer: list[int | None] = []
    amount: list[float | None] = []
    for _ in range(num_orders):
        roll = rng.random()
        customer.append(None if roll < 0.01 else num_customers + rng.randint(1, 50) if roll < 0.03
                        else rng.randint(1, num_customers))
        amount.append(None if rng.random() < 0.005 else round(rng.uniform(1, 500), 2))
    day = dt.date.fromisoformat(ds)
    return pa.table({
        "order_id": pa.array(range(start_id, start_id + num_orders), pa.int64()),
        "customer_id": pa.array(customer, pa.int64()),
        "amount": pa.array(amount, pa.float64()),
        "quantity": pa.array([rng.randint(1, 9) for _ in range(num_orders)], pa.int32()),
        "order_date": pa.array([day] * num_orders, pa.date32()),
    })


def write_sample_data(root: str, ds: str, *, num_orders: int = 20_000, num_customers: int = 2_000,
                      num_files: int = 4) -> dict[str, str]:
    """Write ``{root}/customers/customers.parquet`` and ``{root}/orders/{ds}/part-*.parquet`` if missing.

    :param root: base directory or URI (``file://``, ``s3://``, or a local path).
    :param ds: the date of the orders (``YYYY-MM-DD``).
    :param num_orders: orders of that date, split over ``num_files`` files.
    :param num_customers: customers.
    :param num_files: order files (several, so workers share the reading).
    :returns: the directories written (``orders``, ``customers``, ``segment_a``, ``segment_b``,
        ``segments_both``), under ``root`` as given.
    """
    dt.date.fromisoformat(ds)  # a clear error for a bad date
    filesystem, base = _filesystem(root)
    base = base.rstrip("/")
    customers = f"{base}/customers/customers.parquet"
    if not _exists(filesystem, customers):
        _write(filesystem, customers, customers_table(num_customers))
    per_file = -(-num_orders // max(1, num_files))
    for i in range(max(1, num_files)):
        path = f"{base}/orders/{ds}/part-{i:03d}.parquet"
        rows = min(per_file, num_orders - i * per_file)
        if rows > 0 and not _exists(filesystem, path):
            _write(filesystem, path, orders_table(ds, rows, num_customers, start_id=i * per_file))
    # Two overlapping customer segments for the set-operation examples (ids 1..60% and 40%..100%),
    # and a directory holding both, so it has duplicate rows for the unique example.
    table = customers_table(num_customers)
    cut_a, cut_b = int(num_customers * 0.6), int(num_customers * 0.4)
    segments = {"a": table.slice(0, cut_a), "b": table.slice(cut_b)}
    for name, part in segments.items():
        for folder in (name, "both"):
            path = f"{base}/segments/{folder}/segment-{name}.parquet"
            if not _exists(filesystem, path):
                _write(filesystem, path, part)
    root = root.rstrip("/")
    return {"orders": f"{root}/orders/{ds}/", "customers": f"{root}/customers/",
            "segment_a": f"{root}/segments/a/", "segment_b": f"{root}/segments/b/",
            "segments_both": f"{root}/segments/both/"}


class CylonSampleDataOperator(BaseOperator):
    """Write deterministic sample orders (for ``ds``) and customers if they are missing.

    :param root: base directory or URI (templated).
    :param ds: date of the orders; default the run's ``{{ ds }}`` (templated).
    :param num_orders: orders for the date.
    :param num_customers: customers.
    :param num_files: order files.
    """

    template_fields: Sequence[str] = ("root", "ds")
    ui_color = "#f0ede4"

    def __init__(self, *, root: str, ds: str = "{{ ds }}", num_orders: int = 20_000, num_customers: int = 2_000,
                 num_files: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.ds = ds
        self.num_orders = num_orders
        self.num_customers = num_customers
        self.num_files = num_files

    def execute(self, context: Context) -> dict[str, str]:
        paths = write_sample_data(self.root, self.ds, num_orders=self.num_orders, num_customers=self.num_customers,
                                  num_files=self.num_files)
        self.log.info("sample data for %s: %s", self.ds, paths)
        return paths
