"""Spilled matrices: transformed once, they give the fits and metrics of the engine passes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import suture
from suture.engines import LocalEngine
from suture.errors import InternalError, OutputError
from suture.models.linear import GramAggregator
from suture.models.spilled import SPILLED_PARTS, SpilledEngine, SpillMatrices, spill
from suture.models.streaming import (
    STREAMING_CANDIDATES,
    HashSplit,
    Transformed,
    evaluate_streaming,
    fit_streaming,
    matrix_columns,
)
from tests.models.test_streaming import SPLIT, _binary, _table

VALIDATION = HashSplit(SPLIT.columns, test_size=0.2, seed=1)


def _spilled(folder: Path, data: Any, workers: int | None = None) -> SpilledEngine:
    table, task, pipes = data
    return spill(
        LocalEngine(),
        table,
        folder,
        pipes,
        task=task,
        split=SPLIT,
        validation=VALIDATION,
        workers=workers,
    )


def _regression() -> Any:
    from suture.features import FeaturePipeline
    from suture.models.task import infer_task

    table = _table(20_000, 1, regression=True)
    profile = suture.profile(table)
    pipes = {"linear": FeaturePipeline(style="linear").fit(profile, ["a", "b", "c", "cat"])}
    return table, infer_task(profile["y"]), pipes


def _coefficients(model: Any) -> np.ndarray:
    if hasattr(model, "coef_"):
        return np.concatenate([np.ravel(model.intercept_), np.ravel(model.coef_)])
    return np.asarray(model.decision_function(np.eye(model.design_.n_features)))


@pytest.mark.parametrize("kind", ["binary", "regression"])
@pytest.mark.parametrize("part", ["fit", "train"])
def test_spilled_fits_and_metrics_equal_the_engine_passes(
    tmp_path: Path, kind: str, part: str
) -> None:
    data = _binary() if kind == "binary" else _regression()
    table, task, pipes = data
    engine = _spilled(tmp_path, data)
    options: dict[str, Any] = {"part": part, "validation": VALIDATION}
    passes = fit_streaming(LocalEngine(), table, task, pipes, SPLIT, **options)
    folded = fit_streaming(engine, None, task, pipes, SPLIT, **options)
    assert list(folded) == list(passes)
    for name, model in passes.items():
        np.testing.assert_allclose(
            _coefficients(folded[name]), _coefficients(model), rtol=1e-9, atol=1e-12
        )
        if name == "logistic":
            assert folded[name].n_iter_ == model.n_iter_  # type: ignore[attr-defined]
    chosen = {n: pipes[STREAMING_CANDIDATES[n]] for n in passes}
    for where in ("validation", "holdout"):
        want = evaluate_streaming(
            LocalEngine(), table, passes, chosen, SPLIT, part=where, validation=VALIDATION
        )
        got = evaluate_streaming(
            engine, None, passes, chosen, SPLIT, part=where, validation=VALIDATION
        )
        for name, evaluation in want.items():
            assert got[name].n == evaluation.n
            for key, metric in evaluation.metrics.items():
                assert got[name].metrics[key].value == pytest.approx(metric.value, rel=1e-9)


def test_the_spilled_rows_are_the_split_and_the_matrices_exact(tmp_path: Path) -> None:
    data = _binary()
    table, _, pipes = data
    engine = _spilled(tmp_path, data)
    batch = table.combine_chunks().to_batches()[0]
    held = SPLIT.holdout(batch)
    checked = VALIDATION.holdout(batch)
    assert engine.rows("holdout") == int(held.sum())
    assert engine.rows("validation") == int((~held & checked).sum())
    assert engine.rows("all") == table.num_rows
    # The first holdout chunk read back is the transform of the first holdout rows.
    chunk = next(c for c in engine.chunks if c.part == "holdout")
    rows = table.filter(pa.array(held)).slice(0, chunk.rows)
    for style, pipeline in pipes.items():
        stored = np.load(tmp_path / chunk.files[style])
        assert stored.dtype == (np.int8 if style == "binned" else np.float64)
        np.testing.assert_array_equal(stored.astype(np.float64), pipeline.transform(rows))


def test_the_folded_state_does_not_depend_on_the_threads(tmp_path: Path) -> None:
    data = _binary()
    _, task, pipes = data
    one = _spilled(tmp_path, data, workers=1)
    two = SpilledEngine(one.directory, one.chunks, _spiller(data), workers=2)
    gram = Transformed(
        pipes["linear"],
        GramAggregator(matrix_columns(pipes["linear"].n_features_), "y"),
        task=task,
        split=SPLIT,
        part="train",
        validation=VALIDATION,
    )
    assert gram.to_bytes(one.aggregate_state(None, gram)) == gram.to_bytes(
        two.aggregate_state(None, gram)
    )


def _spiller(data: Any) -> Any:
    from suture.models.spilled import SpillMatrices

    _, task, pipes = data
    return SpillMatrices(".", pipes, task=task, split=SPLIT, validation=VALIDATION)


def test_an_aggregator_of_other_rows_is_refused(tmp_path: Path) -> None:
    data = _binary()
    _, task, pipes = data
    engine = _spilled(tmp_path, data)
    other = Transformed(
        pipes["linear"],
        GramAggregator(matrix_columns(pipes["linear"].n_features_), "y"),
        task=task,
        split=HashSplit(SPLIT.columns, seed=7),
    )
    with pytest.raises(InternalError, match="other than the spilled ones"):
        engine.aggregate(None, other)


def test_streamed_training_leaves_no_spilled_file(tmp_path: Path) -> None:
    table = _binary()[0]
    work = tmp_path / "work"
    work.mkdir()
    from suture.models.streaming import train_streaming
    from suture.train import TrainOptions

    options = TrainOptions(target="y", candidates=("baseline", "naive_bayes", "logistic"))
    bundle = train_streaming(table, options, None, LocalEngine(), workdir=work)
    assert bundle.winner in ("baseline", "naive_bayes", "logistic")
    assert list(work.iterdir()) == []


def test_the_same_data_and_seed_give_the_same_streamed_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    table = _binary()[0]
    for name in ("a", "b"):
        suture.train(table, "y", streaming=True, seed=3, output=tmp_path / name)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    for file in files:
        a, b = tmp_path / "a" / file, tmp_path / "b" / file
        if a.is_file():
            assert a.read_bytes() == b.read_bytes(), file


@pytest.mark.parametrize("values", [[0, 1], [-1, 0, 1], [-128, -3, 0, 2, 127]])
def test_naive_bayes_sums_of_an_int8_matrix_equal_the_float_ones_exactly(values: list[int]) -> None:
    from suture.models.naive_bayes import NaiveBayesStats
    from suture.models.spilled import _naive_bayes_of_int8

    rng = np.random.default_rng(len(values))
    x = rng.choice(values, size=(3000, 40)).astype(np.int8)
    y = rng.integers(0, 3, 3000).astype(np.float64)
    want, got = NaiveBayesStats.of(x.astype(np.float64), y, 3), _naive_bayes_of_int8(x, y, 3)
    for field in ("weights", "sums", "squares", "binary", "signed"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


def test_an_unwritable_spill_folder_is_an_output_error_naming_it(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(OutputError) as caught:
        _spilled(not_a_folder, _binary())
    message = str(caught.value)
    assert message.startswith(
        f"streamed training cannot write its temporary matrices to {not_a_folder}: "
    )
    assert "free space there, or point TMPDIR" in message


_LAW_FOLDER = tempfile.TemporaryDirectory(prefix="suture-spill-laws-")


def _spill_aggregator() -> SpillMatrices:
    _, task, pipes = _binary()
    return SpillMatrices(_LAW_FOLDER.name, pipes, task=task, split=SPLIT, validation=VALIDATION)


def _spilled_rows(aggregator: SpillMatrices, state: list[Any]) -> dict[str, list[np.ndarray]]:
    """Each part's target and matrices, read back and stacked in the order written."""
    folder = Path(aggregator.directory)
    names = ["y", *sorted(aggregator.pipelines)]
    rows: dict[str, list[np.ndarray]] = {}
    for part in SPILLED_PARTS:
        chunks = [c for c in state if c.part == part]
        rows[part] = [
            np.concatenate([np.load(folder / c.files[n], allow_pickle=False) for c in chunks])
            if chunks
            else np.empty(0)
            for n in names
        ]
    return rows


def _same_spilled_rows(aggregator: SpillMatrices) -> Any:
    def equal(a: list[Any], b: list[Any]) -> None:
        got, want = _spilled_rows(aggregator, a), _spilled_rows(aggregator, b)
        for part in SPILLED_PARTS:
            for x, y in zip(got[part], want[part], strict=True):
                assert x.dtype == y.dtype and np.array_equal(x, y), part

    return equal


def spilled_laws(law: Any) -> dict[type, Any]:
    """The law registry entry (tests/test_laws.py) of SpillMatrices: split anywhere and
    merged in order, the chunks hold the same rows, exactly, as one pass writes."""
    from tests.models.test_streaming import _Built

    case = _Built(_spill_aggregator, _same_spilled_rows)
    return {
        SpillMatrices: law(case.build, case.equal, table=lambda t: _binary()[0], commutative=False)
    }
