"""The batch path of ``POST /v1/predict``: a request's records typed once, the archive's
rows encoded in bulk and the window handed the typed batch, each equal to the record by
record path it replaces (the same floats, the same archived text, the same window state).

HTTP against ``suture score`` is ``test_one_scoring_path.py``; these tests pin the parts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from suture.models.bundle import ModelBundle
from suture.serve.app import Service
from suture.serve.archive import (
    PredictionRecord,
    SqlArchive,
    _dumps_features,
    _row,
    encode_features,
    encode_rows,
    new_prediction_id,
    new_prediction_ids,
    open_archive,
)
from suture.serve.config import ServeConfig, WindowSpec
from suture.serve.predict import BATCH_TRANSFORM_ROWS, TYPED_ROWS, Predictor, _exact_kinds
from suture.serve.window import LiveWindow
from tests.serve.conftest import MODEL_BUNDLE
from tests.serve.test_window import T0, Clock, _default_rows


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.read(MODEL_BUNDLE)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _default_rows()[2000:3000]


@pytest.fixture
def predictor(bundle: ModelBundle, tmp_path: Path) -> Predictor:
    config = ServeConfig(bundle=str(MODEL_BUNDLE), archive=f"sqlite:///{tmp_path / 'a.db'}")
    return Predictor(bundle, Service(config))


def _coerced(predictor: Predictor, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checked = [predictor.check(r) for r in rows]
    assert all(c is not None and not v for c, v in checked)
    return [c for c, _ in checked if c is not None]


# ----------------------------------------------------------------------------- features


def test_encoded_feature_rows_are_the_text_each_row_was_archived_as() -> None:
    rng = np.random.default_rng(3)
    X = np.where(rng.random((40, 30)) < 0.2, rng.normal(size=(40, 30)), 0.0)
    X[0] = 0.0  # nothing but zeros
    X[1] = rng.normal(size=30)  # dense
    X[2, :15] = 1.0  # exactly half non-zero: a list
    X[3, 5] = math.nan  # NaN is not 0: kept (as null)
    X[4, 6] = -0.0  # -0.0 is 0: left out
    X[5, 7], X[5, 8] = math.inf, 5e-324
    assert encode_features(X) == [_dumps_features(row) for row in X.tolist()]
    for n in (1, 3):  # a few rows take the per-row path
        assert encode_features(X[:n]) == [_dumps_features(row) for row in X[:n].tolist()]
    assert encode_features(np.zeros((0, 4))) == []
    assert encode_features(np.zeros((2, 0))) == [_dumps_features([]), _dumps_features([])]


def test_encoded_rows_equal_the_rows_of_the_same_records() -> None:
    ids = new_prediction_ids(3)
    X = np.array([[0.0, 1.5, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5])
    received: list[dict[str, Any]] = [{"balance": "12 USD", "x": [1]}, {"balance": 3}, {}]
    coerced: list[dict[str, Any]] = [{"balance": 12.0}, {"balance": 3.0}, {"balance": None}]
    outputs = [{"prediction": "true", "probability": 0.25, "explanation_base": -1.0}] * 3
    reasons = [[{"column": "balance", "value": 12.0, "unit": "USD", "contribution": 0.5}], [], []]
    keys = ["c1", None, "c3"]
    encoded = encode_rows(
        ids, 1_796_184_189.5, "v1", "w1", keys, received, coerced, encode_features(X), outputs,
        reasons,
    )  # fmt: skip
    records = [
        PredictionRecord(i, 1_796_184_189.5, "v1", "w1", k, r, c, x, o, e)
        for i, k, r, c, x, o, e in zip(
            ids, keys, received, coerced, X.tolist(), outputs, reasons, strict=True
        )
    ]
    assert encoded == [_row(r) for r in records]


def test_ids_made_at_once_are_new_ids_in_order() -> None:
    before = new_prediction_id()
    for n in (1, 100, 5000):  # 5,000 ids are more than one draw of the random pool
        ids = new_prediction_ids(n)
        assert len(ids) == len(set(ids)) == n
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
        assert len({i[:12] for i in ids}) == 1 and ids[0][:12] >= before[:12]
    assert new_prediction_ids(0) == []


# ----------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("n", [1, TYPED_ROWS, 100, BATCH_TRANSFORM_ROWS, 1000])
def test_a_request_scores_as_its_records_one_by_one(
    predictor: Predictor, rows: list[dict[str, Any]], n: int
) -> None:
    coerced = _coerced(predictor, rows[:n])
    batch = predictor.typed(coerced)
    assert (batch is None) == (n < TYPED_ROWS)  # a few records go the record path
    stacked = np.vstack([predictor.transform(c) for c in coerced])
    assert np.array_equal(predictor.features(coerced, batch), stacked)
    assert np.array_equal(predictor.features(coerced, None), stacked)
    scored = predictor.score(coerced)
    ones = [predictor.score([c]) for c in coerced]
    assert scored.outputs == [o.outputs[0] for o in ones]
    assert scored.explanations == [o.explanations[0] for o in ones if o.explanations]


def test_values_a_typed_batch_would_change_go_the_record_path(predictor: Predictor) -> None:
    # The golden model scores balance, a number (its window watches balance too).
    assert [name for name, *_ in predictor._plan] == ["balance"]
    many: list[dict[str, Any]] = [{"balance": 100.0}, {"balance": 7}, {}] * TYPED_ROWS
    assert predictor.typed(many) is not None
    assert predictor.typed([*many, {"balance": True}]) is None  # the record path refuses it
    assert predictor.typed([*many, {"balance": 2**53 + 1}]) is None  # not exact as a float
    assert predictor.typed([*many, {"balance": "100"}]) is None
    none: type = type(None)
    assert _exact_kinds(pa.int64()) == frozenset({int, none})  # 1.5 would be truncated to 1
    assert _exact_kinds(pa.bool_()) == frozenset({bool, none})
    assert _exact_kinds(pa.dictionary(pa.int32(), pa.string())) == frozenset({str, none})
    assert _exact_kinds(pa.timestamp("us", "UTC")) is None


# ----------------------------------------------------------------------------- window


@pytest.fixture
def two_archives(tmp_path: Path) -> Iterator[tuple[SqlArchive, SqlArchive]]:
    a = open_archive(f"sqlite:///{tmp_path / 'a.db'}", synchronous="normal")
    b = open_archive(f"sqlite:///{tmp_path / 'b.db'}", synchronous="normal")
    yield a, b
    a.close()
    b.close()


def test_a_window_handed_typed_batches_folds_what_it_folds_from_the_records(
    bundle: ModelBundle,
    predictor: Predictor,
    rows: list[dict[str, Any]],
    two_archives: tuple[SqlArchive, SqlArchive],
) -> None:
    spec = WindowSpec(seconds=3600)
    windows = [
        LiveWindow(
            bundle.scoring_contract, bundle.profile, a, worker="w1", spec=spec, clock=Clock()
        )
        for a in two_archives
    ]
    requests = [rows[0:100], rows[100:140], rows[140:400], rows[400:410], rows[410:700]]
    for k, chunk in enumerate(requests):
        coerced = _coerced(predictor, chunk)
        ids = new_prediction_ids(len(chunk))
        records = [
            PredictionRecord(i, T0 + 1, "v1", "w1", None, r, c, [], {}, [])
            for i, r, c in zip(ids, chunk, coerced, strict=True)
        ]
        for a in two_archives:
            a.write_now(records)
        for c, i in zip(coerced, ids, strict=True):
            windows[0].add(c, i)
        batch = predictor.typed(coerced)
        assert (batch is None) == (k == 3)
        if batch is None:  # a request the typed path did not take: its records, as before
            for c, i in zip(coerced, ids, strict=True):
                windows[1].add(c, i)
        else:
            assert windows[1].add_batch(ids, batch)
        if k == 2:
            for w in windows:
                w.flush()
    for w in windows:
        assert w.flush() > 0
    states = [w.aggregator.to_bytes(w._buckets[T0]) for w in windows]
    assert windows[0].aggregator.rows(windows[1]._buckets[T0]) == 700
    assert states[0] == states[1]


def test_a_batch_without_the_watched_columns_is_refused_and_nothing_noted(
    bundle: ModelBundle, predictor: Predictor, two_archives: tuple[SqlArchive, SqlArchive]
) -> None:
    window = LiveWindow(
        bundle.scoring_contract, bundle.profile, two_archives[0], worker="w1",
        spec=WindowSpec(seconds=3600), clock=Clock(),
    )  # fmt: skip
    assert not window.add_batch(["0" * 32], pa.RecordBatch.from_pylist([{"income": 1.0}]))
    assert not window.add_batch(["0" * 32], pa.RecordBatch.from_pylist([{"balance": 1}]))
    typed = predictor.typed([{"balance": 100.0}] * TYPED_ROWS)
    assert typed is not None
    assert not window.add_batch(["0" * 32], typed)  # one id for many rows
    assert window._added == 0 and not window._memory


# ----------------------------------------------------------------------------- commit log


def _records(worker: str, n: int, ts: float) -> list[PredictionRecord]:
    return [
        PredictionRecord(i, ts, "v1", worker, None, {}, {}, [], {}, [])
        for i in new_prediction_ids(n)
    ]


def test_committed_from_the_commit_log_equals_the_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    before = open_archive(url, synchronous="normal")
    before.write_now(_records("w1", 5, T0))  # committed by another archive object
    before.close()
    a = open_archive(url, synchronous="normal")
    reader = open_archive(url, synchronous="normal")  # commits nothing: reads the table
    try:
        for k in range(4):
            a.write_now([*_records("w1", 3, T0 + k), *_records("w2", 2, T0 + k)])
        a.write_now(_records("w1", 1, T0 + 9))
        for worker, after, limit in [("w1", 0, 100), ("w1", 5, 100), ("w1", 7, 4), ("w2", 0, 9)]:
            assert a.committed(worker, after, limit) == reader.committed(worker, after, limit)
        assert [s for s, _, _ in a.committed("w1", 0, 100)][:6] == [1, 2, 3, 4, 5, 6]
        assert a.committed("w1", 30, 10) == [] == reader.committed("w1", 30, 10)
        assert a.committed("w3", 0, 10) == []
    finally:
        a.close()
        reader.close()
