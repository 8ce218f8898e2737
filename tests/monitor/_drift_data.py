"""Synthetic tables for the drift tests: 20 columns of known distributions, and plants."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

LEVELS = pa.array([f"L{i:02d}" for i in range(30)])
_ZIPF = 1.0 / np.arange(1, 31)
_ZIPF /= _ZIPF.sum()


def same_distribution(seed: int, rows: int) -> dict[str, pa.Array]:
    """Ten numeric columns (normal, lognormal, integers, with a few nulls) and ten
    categorical ones (30 Zipf-distributed levels), all drawn afresh from ``seed``."""
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {}
    for j in range(10):
        if j % 3 == 0:
            values = rng.normal(j, 1 + j, rows)
        elif j % 3 == 1:
            values = rng.lognormal(0.0, 1.0, rows)
        else:
            values = rng.poisson(3 + j, rows).astype(np.float64)
        nulls = rng.random(rows) < 0.02 * (j % 4)
        columns[f"x{j}"] = pa.array(values, mask=nulls)
    for j in range(10):
        index = rng.choice(30, rows, p=_ZIPF)
        nulls = rng.random(rows) < 0.01 * (j % 3)
        columns[f"c{j}"] = LEVELS.take(pa.array(index, mask=nulls))
    return columns


def table(columns: dict[str, pa.Array]) -> pa.Table:
    return pa.table(columns)


def planted(seed: int, rows: int) -> dict[str, pa.Array]:
    """:func:`same_distribution` with five columns drifted by a known amount.

    - ``x0`` (normal, sd 1): mean shifted by one standard deviation;
    - ``x3`` (normal, sd 4): standard deviation doubled;
    - ``c0``: a new level ``NEW`` takes 15% of the rows;
    - ``c1``: nulls rise from 1% to 15%;
    - ``x4`` (seconds, lognormal): sent as minutes (divided by 60).
    """
    rng = np.random.default_rng(seed + 10_000)
    columns = same_distribution(seed, rows)
    columns["x0"] = pa.array(rng.normal(1.0, 1.0, rows))
    columns["x3"] = pa.array(rng.normal(3.0, 8.0, rows), mask=np.asarray(columns["x3"].is_null()))
    c0 = columns["c0"].to_numpy(zero_copy_only=False).astype(object)
    c0[rng.random(rows) < 0.15] = "NEW"
    columns["c0"] = pa.array(c0, pa.string())
    c1 = columns["c1"]
    more = rng.random(rows) < 0.15
    columns["c1"] = pa.array(c1.to_numpy(zero_copy_only=False), pa.string(),
                             mask=np.asarray(c1.is_null()) | more)  # fmt: skip
    x4 = columns["x4"].to_numpy(zero_copy_only=False)
    columns["x4"] = pa.array(x4 / 60.0, mask=np.asarray(columns["x4"].is_null()))
    return columns


PLANTED = ("x0", "x3", "x4", "c0", "c1")
