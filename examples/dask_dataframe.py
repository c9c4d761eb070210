"""The data-frame path: a Dask dataframe job whose tasks run on pymesos_rt.

Dask builds the graph (partitions, groupby, aggregation, join); ``rt.util.dask.get`` runs each
Dask task as one of ours, its inputs passed as ``ObjectRef``s (resolved on the executor that
runs it, large ones from the object store). The same query on pandas checks the answer.

Needs the ``dask`` extra (``pip install -e '.[dask]'``).

    python examples/dask_dataframe.py [--rows 200000] [--partitions 8]
"""

from __future__ import annotations

import argparse
import sys

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

import pymesos_rt as rt


def make_sales(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "store": rng.integers(0, 20, rows),
            "product": rng.integers(0, 50, rows),
            "units": rng.integers(1, 10, rows),
            "price": rng.uniform(1.0, 100.0, rows).round(2),
        }
    )


def revenue_by_store(sales: pd.DataFrame | dd.DataFrame) -> pd.DataFrame | dd.DataFrame:
    """Revenue, units sold and the highest price per store."""
    sales = sales.assign(revenue=sales.units * sales.price)
    return sales.groupby("store").agg({"revenue": "sum", "units": "sum", "price": "max"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args(argv)

    rt.init()
    frame = make_sales(args.rows, seed=11)
    sales = dd.from_pandas(frame, npartitions=args.partitions)
    with dask.config.set(scheduler=rt.util.dask.get):  # every compute() below runs on rt
        ours = revenue_by_store(sales).compute().sort_index()
        mean_price = sales.price.mean().compute()
    expected = revenue_by_store(frame).sort_index()
    print(f"sales: {args.rows} rows in {args.partitions} partitions")
    top = ours.sort_values("revenue", ascending=False).head(3)
    for store, row in top.iterrows():
        print(f"store {store}: revenue {row.revenue:,.0f}, {int(row.units)} units")
    pd.testing.assert_frame_equal(ours, expected, check_dtype=False)
    assert np.isclose(mean_price, frame.price.mean())
    print("OK: equal to pandas")
    rt.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
