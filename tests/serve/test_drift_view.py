"""The /v1/drift payload from two profiles: plots the dashboard draws, thresholds, scores."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow as pa
import pytest

import suture
from suture.monitor.thresholds import DEFAULT_THRESHOLDS, Threshold
from suture.profile import Profile
from suture.serve.drift_view import (
    DISTRIBUTION_BINS,
    LEVELS,
    Rejections,
    column_limits,
    distribution,
    drift_payload,
)


def _profile(table: pa.Table) -> Profile:
    return suture.profile(table)


@pytest.fixture(scope="module")
def sides() -> tuple[Profile, Profile]:
    rng = np.random.default_rng(3)
    n = 5000
    training = pa.table(
        {
            "amount": rng.gamma(2.0, 100.0, n),
            "country": rng.choice(["fr", "de", "it", "es"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "member": rng.random(n) < 0.3,
        }
    )
    live = pa.table(
        {
            "amount": rng.gamma(2.0, 100.0, n) * 1.5 + 50.0,  # shifted, beyond training's max
            "country": rng.choice(["fr", "de", "it", "pt"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "member": rng.random(n) < 0.3,
        }
    )
    return _profile(training), _profile(live)


def test_numeric_plot_has_shared_edges_and_both_masses(sides: tuple[Profile, Profile]) -> None:
    training, live = sides
    plot = distribution(training["amount"], live["amount"])
    assert plot is not None and plot["kind"] == "numeric"
    edges, t, lv = plot["edges"], plot["training"], plot["live"]
    assert len(t) == len(lv) == len(edges) - 1
    assert all(a < b for a, b in itertools.pairwise(edges))
    assert sum(t) == pytest.approx(1.0, abs=1e-9) and sum(lv) == pytest.approx(1.0, abs=1e-9)
    # The training bins hold ~5% each; live values above the training maximum get a bin
    # of their own, where the training mass is 0.
    assert len(edges) == DISTRIBUTION_BINS + 2
    assert edges[-1] == live["amount"].state.quantiles.max and t[-1] == 0.0 and lv[-1] > 0.0
    assert max(t) < 0.06


def test_categorical_plot_lists_the_levels_of_both_sides_and_other(
    sides: tuple[Profile, Profile],
) -> None:
    training, live = sides
    plot = distribution(training["country"], live["country"])
    assert plot is not None and plot["kind"] == "categorical"
    assert set(plot["levels"]) == {"fr", "de", "it", "es", "pt", "other"}
    assert plot["levels"][-1] == "other" and len(plot["levels"]) <= LEVELS + 1
    shares = dict(zip(plot["levels"], plot["live"], strict=True))
    assert shares["es"] == 0.0 and shares["pt"] == pytest.approx(0.1, abs=0.02)
    assert sum(plot["training"]) == pytest.approx(1.0) and sum(plot["live"]) == pytest.approx(1.0)
    booleans = distribution(training["member"], live["member"])
    assert booleans is not None and booleans["levels"] == ["false", "true", "other"]
    assert booleans["training"][-1] == 0.0


def test_the_payload_judges_each_column_with_compares_metrics(
    sides: tuple[Profile, Profile],
) -> None:
    training, live = sides
    limits = column_limits({}, list(live))
    payload = drift_payload(
        training, live, limits=limits, rejections=Rejections(received=live.row_count),
        window={"seconds": 3600.0}, units={"amount": "euro"},
    )  # fmt: skip
    by = {f["column"]: f for f in payload["features"]}
    assert (by["amount"]["level"], by["country"]["level"], by["member"]["level"]) == (
        "alert",
        "alert",
        "ok",
    )
    assert by["country"]["new_levels"] == ["pt"]
    assert by["amount"]["unit"] == "euro"
    assert by["amount"]["score"] == by["amount"]["psi"]
    assert by["country"]["score"] == by["country"]["js"]
    assert payload["overall"]["level"] == "alert"
    assert payload["overall"]["message"] == "alert: amount, country"
    assert payload["overall"]["score"] == max(f["score"] for f in payload["features"])
    assert payload["window"] == {"seconds": 3600.0, "records": live.row_count}


def test_contract_thresholds_override_the_defaults_column_by_column() -> None:
    limits = column_limits({"a": {"psi": (0.3, 0.6)}}, ["a", "b"], {"b": {"ks": [0.2, 0.4]}})
    assert limits["a"]["psi"] == Threshold(0.3, 0.6)
    assert limits["a"]["ks"] == DEFAULT_THRESHOLDS["ks"]
    assert limits["b"]["psi"] == DEFAULT_THRESHOLDS["psi"]
    assert limits["b"]["ks"] == Threshold(0.2, 0.4)


def test_an_empty_window_is_insufficient_with_null_metrics(sides: tuple[Profile, Profile]) -> None:
    training, live = sides
    empty = _profile(pa.table({n: pa.array([], live.schema.field(n).type) for n in live}))
    payload = drift_payload(
        training, empty, limits=column_limits({}, list(empty)), rejections=Rejections(),
        window={},
    )  # fmt: skip
    assert payload["overall"]["level"] == "insufficient"
    assert payload["overall"]["score"] is None
    amount = payload["features"][0]
    assert amount["psi"] is None and amount["level"] == "insufficient"
    assert amount["out_of_range_rate"]["live"] is None
    json.dumps(payload, allow_nan=False)  # strict JSON: None where a metric is undefined
