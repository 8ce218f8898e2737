"""The latency quantiles /v1/stats reads from the latency histogram's buckets."""

from __future__ import annotations

from suture.serve.metrics import LATENCY_BUCKETS, quantile


def cumulative(counts: dict[float, int]) -> list[float]:
    """Cumulative bucket counts (the +Inf bucket last) of observations per upper bound."""
    out, running = [], 0.0
    for bound in (*LATENCY_BUCKETS, float("inf")):
        running += counts.get(bound, 0)
        out.append(running)
    return out


def test_a_quantile_is_interpolated_inside_its_bucket() -> None:
    ten = cumulative({0.002: 10})  # ten answers between 1 and 2 ms
    assert quantile(ten, 0.5) == 0.0015
    assert quantile(ten, 1.0) == 0.002
    mixed = cumulative({0.0005: 90, 0.01: 10})  # 90 fast, 10 between 7.5 and 10 ms
    assert quantile(mixed, 0.5) == 0.00025 + (50 / 90) * 0.00025  # rank 50 of 100
    assert quantile(mixed, 0.99) == 0.0075 + 0.9 * 0.0025


def test_no_observations_have_no_quantile_and_slow_ones_the_largest_bound() -> None:
    assert quantile(cumulative({}), 0.5) is None
    assert quantile(cumulative({float("inf"): 3}), 0.99) == LATENCY_BUCKETS[-1]
