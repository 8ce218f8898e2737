"""Training that streams: candidates fitted from aggregators over transformed batches.

Nothing here holds the rows.  Every fit is one or more engine passes
(:meth:`~suture.engines.base.Engine.aggregate`) of aggregators whose states are sums of
fixed size, so the same code runs on the local engine with flat memory and on Spark
without a collect:

* :class:`HashSplit` decides, row by row, whether a row is in the holdout, from a 64-bit
  hash of the row's values (see its notes): the same rows on every engine, batch size and
  partitioning, with no row index and no shuffle.
* :class:`Transformed` wraps a matrix aggregator: it keeps the rows of one side of the
  split that have a target, applies :meth:`FeaturePipeline.transform` and hands the inner
  aggregator a batch of columns ``x0 .. x{p-1}`` and ``y`` (the encoded target).
* The inner aggregators are the Gram matrix (:class:`~suture.models.linear.GramAggregator`,
  ridge and the baseline), one Newton step of logistic regression per pass
  (:class:`~suture.models.linear.NewtonStep`), the per-class sums of naive Bayes
  (:class:`NaiveBayesAggregator`) and the holdout metrics (:class:`HoldoutMetrics`).
* :func:`fit_streaming` fits the candidates it can (baseline, naive Bayes, ridge,
  logistic) and :func:`evaluate_streaming` scores them on the holdout in one pass.

Binary classification and regression stream; a multiclass task is refused with a
:class:`~suture.errors.ConfigError` (its softmax fit is L-BFGS over the whole matrix).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture._codec import Field
from suture.aggregate import Aggregator, Framed, Joined
from suture.errors import ConfigError, EmptyInputError
from suture.models.base import Design, Model, Task, encode_target
from suture.models.naive_bayes import NaiveBayesStats
from suture.models.result import Evaluation, Metric
from suture.sketches.hashing import float_keys, murmur3_64bit_keys, string_keys

if TYPE_CHECKING:
    from suture.features import FeaturePipeline
    from suture.models.result import Calibrator
    from suture.schema.contract import Schema

__all__ = [
    "STREAMING_CANDIDATES",
    "HashSplit",
    "HoldoutMetrics",
    "MetricsState",
    "NaiveBayesAggregator",
    "SampleRows",
    "Transformed",
    "evaluate_streaming",
    "fit_streaming",
    "matrix_columns",
    "train_streaming",
]

F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
S = TypeVar("S")

#: The candidates that fit from aggregators, in order of simplicity, with their feature style.
STREAMING_CANDIDATES: dict[str, str] = {
    "baseline": "linear",
    "naive_bayes": "binned",
    "logistic": "linear",
    "linear": "linear",
}

#: Rows transformed at once: bounds the matrices of one batch (a wide binned design of
#: 350 features is 350 x 8 bytes a row) whatever the engine's batch size.
MATRIX_ROWS = 16_384

#: The name of the encoded target in the batches :class:`Transformed` hands on.
TARGET = "y"

_NULL_KEY = np.uint64(0x9E3779B97F4A7C15)
_NAN_KEY = np.uint64(0x7FF8000000000000)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def matrix_columns(p: int) -> list[str]:
    """The feature column names of a transformed batch: ``x0 .. x{p-1}``."""
    return [f"x{j}" for j in range(p)]


def _matrix_batch(x: F64, y: F64) -> pa.RecordBatch:
    arrays = [pa.array(np.ascontiguousarray(x[:, j])) for j in range(x.shape[1])]
    return pa.RecordBatch.from_arrays(
        [*arrays, pa.array(y)], names=[*matrix_columns(x.shape[1]), TARGET]
    )


def _matrix(batch: pa.RecordBatch) -> tuple[F64, F64]:
    """The feature matrix and the target of a transformed batch."""
    p = batch.num_columns - 1
    x = np.empty((batch.num_rows, p), dtype=np.float64)
    for j in range(p):
        x[:, j] = batch.column(j).to_numpy(zero_copy_only=False)
    y = np.asarray(batch.column(TARGET).to_numpy(zero_copy_only=False), dtype=np.float64)
    return x, y


# -- the holdout split -----------------------------------------------------------------


def _column_keys(array: pa.Array) -> U64:
    """A 64-bit key per value that does not depend on the Arrow width of the type."""
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.cast(t.value_type)
        t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        keys = string_keys(pc.fill_null(array, ""))
    elif pa.types.is_large_binary(t):
        keys = string_keys(pc.fill_null(array, b""))
    elif pa.types.is_date(t) or pa.types.is_timestamp(t):
        stamps = pc.cast(
            array.cast(pa.timestamp("us")) if pa.types.is_date(t) else array, pa.timestamp("us")
        )
        keys = pc.cast(stamps, pa.int64()).fill_null(0).to_numpy().view(np.uint64)
    elif (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or (pa.types.is_decimal(t))
    ):
        values = np.asarray(
            pc.cast(array, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
        keys = np.where(np.isnan(values), _NAN_KEY, float_keys(values))
    elif pa.types.is_nested(t):
        raise ConfigError(
            f"a column of type {t} cannot key the holdout split; name scalar key columns"
        )
    else:
        keys = string_keys(pc.fill_null(pc.cast(array, pa.large_string()), ""))
    if array.null_count:
        nulls = np.asarray(pc.is_null(array).to_numpy(zero_copy_only=False), dtype=bool)
        keys = np.where(nulls, _NULL_KEY, keys)
    return np.asarray(keys, dtype=np.uint64)


@dataclass(frozen=True)
class HashSplit:
    """A holdout decided row by row from a hash of the row's values.

    Parameters
    ----------
    columns : sequence of str
        The columns whose values identify a row (a row key, or every column of the
        contract); hashed in the order given.
    test_size : float, default 0.2
        The share of rows in the holdout, strictly between 0 and 1.
    seed : int, default 0
        Seeds the hash: another seed gives another split.

    Notes
    -----
    Each value becomes a 64-bit key that does not depend on its Arrow width: numbers,
    booleans and decimals by the bits of their float64 value, dates and timestamps by
    their microseconds, strings and binaries by :func:`~suture.sketches.hashing.string_keys`,
    null and NaN by fixed keys.  The row's hash chains MurmurHash3 over the keys in column
    order, starting from the seed; the row is in the holdout when the top 53 bits of the
    hash, read as a fraction of 1, are at least ``1 - test_size``.  So the split is the
    same on every engine, batch size and partitioning, needs no row number, and puts
    duplicate rows on the same side (a duplicate cannot leak from training into the
    holdout).  Its share is ``test_size`` up to binomial noise.
    """

    columns: tuple[str, ...]
    test_size: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.columns:
            raise ConfigError("the hash split needs at least one column to hash")
        if not 0.0 < float(self.test_size) < 1.0:
            raise ConfigError(f"test_size must be between 0 and 1, got {self.test_size!r}")
        object.__setattr__(self, "columns", tuple(self.columns))

    def config(self) -> str:
        """A canonical string of the split."""
        return (
            f"hash_split(columns={list(self.columns)!r},test_size={self.test_size!r},"
            f"seed={self.seed})"
        )

    def keys(self, batch: pa.RecordBatch) -> list[U64]:
        """The 64-bit key of every value of the hashed columns, column by column.

        They do not depend on the seed: splits of the same columns under other seeds
        can share them (:meth:`hashes_of_keys`).
        """
        keys = []
        for name in self.columns:
            column = batch.column(name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            keys.append(_column_keys(column))
        return keys

    def hashes_of_keys(self, keys: Sequence[U64], rows: int) -> U64:
        """The row hashes from :meth:`keys` (of this split's columns, in order)."""
        h = np.full(rows, np.uint64(self.seed), dtype=np.uint64)
        for key in keys:
            with np.errstate(over="ignore"):
                h = murmur3_64bit_keys(key ^ (h * _MIX))[0]
        return h

    def hashes(self, batch: pa.RecordBatch) -> U64:
        """The 64-bit hash of each row of ``batch``."""
        return self.hashes_of_keys(self.keys(batch), batch.num_rows)

    def holdout_of_hashes(self, hashes: U64) -> npt.NDArray[np.bool_]:
        """Whether each row of these :meth:`hashes` is in the holdout."""
        fraction = (hashes >> np.uint64(11)).astype(np.float64) / 2.0**53
        return np.asarray(fraction >= 1.0 - float(self.test_size), dtype=bool)

    def holdout(self, batch: pa.RecordBatch) -> npt.NDArray[np.bool_]:
        """Whether each row of ``batch`` is in the holdout."""
        return self.holdout_of_hashes(self.hashes(batch))


# -- the transforming wrapper ----------------------------------------------------------


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


PARTS = ("all", "train", "holdout", "fit", "validation")


class RowFilter:
    """Which rows of a raw batch a pass folds: valid, with a target, on one side of a split.

    Parameters
    ----------
    target : str
        Rows without it (null or NaN) are left out.
    split : HashSplit, optional
        The holdout split (needed for every part but ``"all"``).
    part : {"all", "train", "holdout", "fit", "validation"}
        ``train`` and ``holdout`` are the two sides of ``split``; ``fit`` and
        ``validation`` split the training side again by ``validation``.
    validation : HashSplit, optional
        The split of the training side into fitting and validation rows.
    contract : Schema, optional
        When given, each batch is validated first and only its valid rows, in the
        contract's types, go on (the validator is compiled once per input schema).
    """

    def __init__(
        self,
        target: str,
        *,
        split: HashSplit | None = None,
        part: str = "all",
        validation: HashSplit | None = None,
        contract: Schema | None = None,
    ) -> None:
        if part not in PARTS:
            raise ConfigError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        if part != "all" and split is None:
            raise ConfigError(f"part {part!r} needs a split")
        if part in ("fit", "validation") and validation is None:
            raise ConfigError(f"part {part!r} needs a validation split")
        self.target, self.split, self.part = target, split, part
        self.validation, self.contract = validation, contract
        self._validators: dict[pa.Schema, Any] = {}

    def config(self) -> str:
        """A canonical string of the filter."""
        split = "none" if self.split is None else self.split.config()
        inner = "none" if self.validation is None else self.validation.config()
        contract = "none" if self.contract is None else self.contract.fingerprint[:16]
        return f"split={split},part={self.part},validation={inner},contract={contract}"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        state["_validators"] = {}
        return state

    def _valid(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.contract is None:
            return batch
        validator = self._validators.get(batch.schema)
        if validator is None:
            validator = self.contract.validator(batch.schema)
            self._validators[batch.schema] = validator
        return _one_batch(validator.check(batch).valid)

    def rows(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The rows of ``batch`` this filter keeps, typed by the contract if there is one."""
        batch = self._valid(batch)
        target = batch.column(self.target)
        keep = np.asarray(pc.is_valid(target).to_numpy(zero_copy_only=False), dtype=bool)
        if pa.types.is_floating(target.type):
            keep &= ~np.isnan(np.asarray(pc.fill_null(target, 0.0).to_numpy(), dtype=np.float64))
        if self.split is not None and self.part != "all":
            held = self.split.holdout(batch)
            keep &= held if self.part == "holdout" else ~held
            if self.validation is not None and self.part in ("fit", "validation"):
                checked = self.validation.holdout(batch)
                keep &= checked if self.part == "validation" else ~checked
        return batch if keep.all() else batch.filter(pa.array(keep))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return batches[0]


class _Wrapper(Framed[S], Generic[S]):
    """An aggregator whose state is an inner aggregator's: merge, finalize and bytes are its."""

    inner: Aggregator[S, Any]

    def zero(self) -> S:
        return self.inner.zero()

    def merge(self, a: S, b: S) -> S:
        return self.inner.merge(a, b)

    def finalize(self, state: S) -> Any:
        return self.inner.finalize(state)

    def _fields(self, state: S) -> dict[str, Field]:
        return {"inner": self.inner.to_bytes(state)}

    def _from_fields(self, fields: dict[str, Any]) -> S:
        return self.inner.from_bytes(bytes(fields["inner"]))


class Transformed(_Wrapper[S]):
    """Apply a fitted pipeline to one side of a split, then fold an inner aggregator.

    Parameters
    ----------
    pipeline : FeaturePipeline
        A fitted pipeline; its :meth:`~FeaturePipeline.transform` makes the matrix.
    inner : Aggregator
        Folds batches of columns ``x0 .. x{p-1}`` (the features) and ``y`` (the target
        encoded for ``task``: the value, 0/1, or the class code).
    task : Task
        The target column and its encoding.
    split : HashSplit, optional
        Which rows are held out (default: no split, every row).
    part : {"train", "holdout", "fit", "validation", "all"}, default "train"
        The rows folded in (see :class:`RowFilter`).
    validation : HashSplit, optional
        Splits the training side into ``fit`` and ``validation`` rows.
    contract : Schema, optional
        Validate each batch first and fold only its valid rows.

    Notes
    -----
    Rows without a target (null or NaN) are left out.  The state is the inner state, and
    the laws are the inner aggregator's: ``merge`` is the inner merge, the byte image
    frames the inner image under a configuration that names the pipeline (by a digest of
    its :meth:`~FeaturePipeline.to_dict`), the task, the split and the part.
    """

    kind = "transformed"

    def __init__(
        self,
        pipeline: FeaturePipeline,
        inner: Aggregator[S, Any],
        *,
        task: Task,
        split: HashSplit | None = None,
        part: str = "train",
        validation: HashSplit | None = None,
        contract: Schema | None = None,
    ) -> None:
        self.filter = RowFilter(
            task.target, split=split, part=part, validation=validation, contract=contract
        )
        self.pipeline = pipeline
        self.inner = inner
        self.task = task
        self._pipeline_digest = _digest(pipeline.to_dict())

    def config(self) -> str:
        return (
            f"transformed(pipeline={self._pipeline_digest},task={_digest(self.task.to_dict())},"
            f"{self.filter.config()},inner={self.inner.config()})"
        )

    def rows(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The rows of ``batch`` this aggregator folds."""
        return self.filter.rows(batch)

    def update(self, state: S, batch: pa.RecordBatch) -> S:
        rows = self.rows(batch)
        for start in range(0, rows.num_rows, MATRIX_ROWS):
            part = rows.slice(start, MATRIX_ROWS)
            x = self.pipeline.transform(part)
            y = encode_target(part.column(self.task.target), self.task)
            state = self.inner.update(state, _matrix_batch(x, y))
        return state


class Filtered(_Wrapper[S]):
    """Fold an aggregator of raw batches over the rows a :class:`RowFilter` keeps.

    The profile and target summaries of the training rows are this around
    :class:`~suture.features.target.ProfileWithTarget`.  The laws are the inner ones.
    """

    kind = "filtered"

    def __init__(self, rows: RowFilter, inner: Aggregator[S, Any]) -> None:
        self.filter = rows
        self.inner = inner
        self.reads_dictionaries = bool(getattr(inner, "reads_dictionaries", False))

    def config(self) -> str:
        return f"filtered({self.filter.config()},inner={self.inner.config()})"

    def update(self, state: S, batch: pa.RecordBatch) -> S:
        rows = self.filter.rows(batch)
        return state if rows.num_rows == 0 else self.inner.update(state, rows)


@dataclass
class RowCounts:
    """What the contract pass counts: rows read, quarantined, valid without a target, and
    the wrapping sum of the valid rows' hashes (an order-free fingerprint of the data)."""

    read: int
    quarantined: int
    no_target: int
    fingerprint: int


class CountRows(Framed[RowCounts]):
    """Count rows read, quarantined by ``contract`` and without ``target``; fingerprint them.

    The fingerprint is the sum modulo 2**64 of each valid row's :class:`HashSplit` hash
    over ``columns``: it does not depend on the order, batching or partitioning of the
    rows, so it is the same on every engine.
    """

    kind = "count_rows"

    def __init__(self, contract: Schema, target: str, columns: Sequence[str]) -> None:
        self.rows = RowFilter(target, contract=contract)
        self.target = target
        self.hash = HashSplit(tuple(columns), seed=0x5EED)

    def config(self) -> str:
        return f"count_rows({self.rows.config()},target={self.target!r},{self.hash.config()})"

    def zero(self) -> RowCounts:
        return RowCounts(0, 0, 0, 0)

    def update(self, state: RowCounts, batch: pa.RecordBatch) -> RowCounts:
        valid = self.rows._valid(batch)
        kept = self.rows.rows(batch) if valid.num_rows else valid
        with np.errstate(over="ignore"):
            total = int(np.sum(self.hash.hashes(valid), dtype=np.uint64)) if valid.num_rows else 0
        state.read += batch.num_rows
        state.quarantined += batch.num_rows - valid.num_rows
        state.no_target += valid.num_rows - kept.num_rows
        state.fingerprint = (state.fingerprint + total) % 2**64
        return state

    def merge(self, a: RowCounts, b: RowCounts) -> RowCounts:
        a.read += b.read
        a.quarantined += b.quarantined
        a.no_target += b.no_target
        a.fingerprint = (a.fingerprint + b.fingerprint) % 2**64
        return a

    def finalize(self, state: RowCounts) -> RowCounts:
        return state

    def _fields(self, state: RowCounts) -> dict[str, Field]:
        return {
            "read": state.read,
            "quarantined": state.quarantined,
            "no_target": state.no_target,
            "fingerprint": f"{state.fingerprint:016x}",
        }

    def _from_fields(self, fields: dict[str, Any]) -> RowCounts:
        return RowCounts(
            int(fields["read"]),
            int(fields["quarantined"]),
            int(fields["no_target"]),
            int(str(fields["fingerprint"]), 16),
        )


class SampleRows(Framed[list[pa.RecordBatch]]):
    """A bounded, seeded sample of rows: those whose hash falls below ``fraction``.

    Which rows are sampled depends on their values only (a :class:`HashSplit` hash of
    ``columns``), and :meth:`finalize` orders them by that hash, so the sample is the
    same table on every engine and partitioning.  Streaming training fits logistic
    regression on such a sample (at most :data:`SAMPLE_ROWS` rows, expected) to start
    Newton's method near the optimum: fewer passes over the whole data.
    """

    kind = "sample_rows"

    def __init__(self, columns: Sequence[str], fraction: float, seed: int = 0) -> None:
        self.hash = HashSplit(tuple(columns), test_size=0.5, seed=seed)
        self.fraction = float(min(max(fraction, 0.0), 1.0))

    def config(self) -> str:
        return f"sample_rows({self.hash.config()},fraction={self.fraction!r})"

    def zero(self) -> list[pa.RecordBatch]:
        return []

    def _keys(self, batch: pa.RecordBatch) -> F64:
        return (self.hash.hashes(batch) >> np.uint64(11)).astype(np.float64) / 2.0**53

    def update(self, state: list[pa.RecordBatch], batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        keep = self._keys(batch) < self.fraction
        if keep.any():
            state.append(batch.filter(pa.array(keep)))
        return state

    def merge(self, a: list[pa.RecordBatch], b: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
        a.extend(b)
        return a

    def finalize(self, state: list[pa.RecordBatch]) -> pa.Table | None:
        if not state:
            return None
        table = pa.Table.from_batches(state).combine_chunks()
        order = np.argsort(self._keys(_one_batch(table)), kind="stable")
        return table.take(pa.array(order))

    def _fields(self, state: list[pa.RecordBatch]) -> dict[str, Field]:
        if not state:
            return {"ipc": b""}
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, state[0].schema) as writer:
            for batch in state:
                writer.write_batch(batch)
        return {"ipc": sink.getvalue().to_pybytes()}

    def _from_fields(self, fields: dict[str, Any]) -> list[pa.RecordBatch]:
        data = bytes(fields["ipc"])
        if not data:
            return []
        return list(pa.ipc.open_stream(data))


#: The expected size of the sample that starts logistic regression's Newton passes.
SAMPLE_ROWS = 40_000


def _sample_start(
    sample: pa.Table | None, pipeline: FeaturePipeline, task: Task, alpha: float, rows: int
) -> F64 | None:
    """Logistic coefficients fitted on the sample, rescaled to the whole data's penalty."""
    from suture.models.linear import Logistic

    if sample is None or sample.num_rows < 100 or task.kind != "binary":
        return None
    y = encode_target(sample.column(task.target), task)
    if y.min() == y.max():
        return None
    # The penalty weighs against a sum over rows: on a sample of n of N rows, alpha n / N
    # gives the whole data's objective in expectation.
    scaled = float(alpha) * sample.num_rows / max(rows, 1)
    model = Logistic(alpha=scaled, max_iter=50, tol=1e-8)
    model.fit(pipeline.transform(sample), y, design=pipeline.design(task))
    return np.concatenate([np.ravel(model.intercept_), np.ravel(model.coef_)])


# -- naive Bayes statistics ------------------------------------------------------------


class NaiveBayesAggregator(Framed[NaiveBayesStats]):
    """Fold :class:`~suture.models.naive_bayes.NaiveBayesStats` of a transformed batch.

    Parameters
    ----------
    n_features : int
        The width of the matrix (columns ``x0 ..``).
    n_classes : int
        The classes of the target codes in ``y``.
    """

    kind = "naive_bayes_stats"

    def __init__(self, n_features: int, n_classes: int) -> None:
        self.p, self.k = int(n_features), int(n_classes)

    def config(self) -> str:
        return f"naive_bayes_stats(p={self.p},k={self.k})"

    def zero(self) -> NaiveBayesStats:
        return NaiveBayesStats.zero(self.k, self.p)

    def update(self, state: NaiveBayesStats, batch: pa.RecordBatch) -> NaiveBayesStats:
        return self.update_matrix(state, *_matrix(batch))

    def update_matrix(self, state: NaiveBayesStats, x: F64, y: F64) -> NaiveBayesStats:
        """:meth:`update` from the feature matrix and the target codes."""
        return state.merge(NaiveBayesStats.of(x, y, self.k))

    def merge(self, a: NaiveBayesStats, b: NaiveBayesStats) -> NaiveBayesStats:
        return a.merge(b)

    def finalize(self, state: NaiveBayesStats) -> NaiveBayesStats:
        return state

    def _fields(self, state: NaiveBayesStats) -> dict[str, Field]:
        return {
            "weights": state.weights.copy(),
            "sums": state.sums.copy(),
            "squares": state.squares.copy(),
            "binary": state.binary.astype(np.float64),
            "signed": state.signed.astype(np.float64),
        }

    def _from_fields(self, fields: dict[str, Any]) -> NaiveBayesStats:
        k, p = self.k, self.p
        return NaiveBayesStats(
            np.array(fields["weights"], dtype=np.float64).reshape(k),
            np.array(fields["sums"], dtype=np.float64).reshape(k, p),
            np.array(fields["squares"], dtype=np.float64).reshape(k, p),
            np.array(fields["binary"], dtype=np.float64).reshape(p) > 0.5,
            np.array(fields["signed"], dtype=np.float64).reshape(p) > 0.5,
        )


# -- holdout metrics -------------------------------------------------------------------


@dataclass
class MetricsState:
    """Sums of the holdout metrics of one model.

    Binary: ``positive`` and ``negative`` are per-bin counts of the log-odds on
    ``bins`` equal bins over ``[-limit, limit]`` (outside values in the end bins), and
    ``sums`` holds the rows, the log loss, the Brier score and the correct predictions.
    Regression: ``sums`` holds the rows, the squared and absolute errors, ``sum y`` and
    ``sum y^2``; the histograms are empty.  With a calibrator (binary), ``low`` and
    ``high`` are each bin's least and greatest log-odds (``inf`` and ``-inf`` when it is
    empty): a bin whose values are all equal holds exact ties; otherwise they are empty.
    """

    positive: F64
    negative: F64
    sums: F64
    low: F64 = field(default_factory=lambda: np.zeros(0))
    high: F64 = field(default_factory=lambda: np.zeros(0))


class HoldoutMetrics(Framed[MetricsState]):
    """Fold the holdout metrics of a fitted model over transformed batches.

    Parameters
    ----------
    model : Model
        A fitted binary or regression model (its ``decision_function`` scores).
    bins : int, default 65536
        Bins of the log-odds histograms that give the AUC (binary).
    limit : float, default 30.0
        The log-odds histograms cover ``[-limit, limit]``.
    calibrator : Calibrator, optional
        A binary model's calibrator: the metrics are of its probabilities.

    Notes
    -----
    With a ``calibrator`` (binary), the metrics are of its probabilities, as a bundle
    scores them.  Log loss, Brier score, accuracy (at probability 0.5), RMSE, MAE and R²
    are exact sums.  The AUC counts, bin by bin, the positives above each negative, and half of
    the pairs that share a bin; the exact AUC lies within ``auc_error`` of it, half the
    share of positive-negative pairs in a common bin (computed from the histograms and
    reported with the metrics: with 65,536 bins it is below 1e-4 unless many scores tie).
    """

    kind = "holdout_metrics"

    def __init__(
        self,
        model: Model,
        *,
        bins: int = 65_536,
        limit: float = 30.0,
        calibrator: Calibrator | None = None,
    ) -> None:
        task = model.design_.task
        if task.kind == "multiclass":
            raise ConfigError("holdout metrics stream for binary and regression tasks only")
        self.model = model
        self.task = task
        self.bins = int(bins)
        self.limit = float(limit)
        self.calibrator = None if task.kind == "regression" else calibrator
        state: dict[str, Any] = {"kind": model.kind, "state": model._state()}
        if self.calibrator is not None:
            state["calibrator"] = self.calibrator.to_dict()
        self._digest = _digest(state)

    def config(self) -> str:
        return (
            f"holdout_metrics(task={self.task.kind},model={self.model.kind}:{self._digest},"
            f"bins={self.bins},limit={self.limit!r})"
        )

    def _link(self, score: F64) -> F64:
        """The log-odds the metrics are of: the model's, or of its calibrated probability."""
        if self.calibrator is None:
            return score
        prob = np.asarray(self.calibrator.transform(score)[:, 1], dtype=np.float64)
        prob = np.clip(prob, 1e-15, 1.0 - 1e-15)
        return np.asarray(np.log(prob) - np.log1p(-prob), dtype=np.float64)

    def zero(self) -> MetricsState:
        width = self.bins if self.task.kind == "binary" else 0
        size = 4 if self.task.kind == "binary" else 5
        spread = width if self.calibrator is not None else 0
        return MetricsState(
            np.zeros(width),
            np.zeros(width),
            np.zeros(size),
            np.full(spread, np.inf),
            np.full(spread, -np.inf),
        )

    def update(self, state: MetricsState, batch: pa.RecordBatch) -> MetricsState:
        return self.update_matrix(state, *_matrix(batch))

    def update_matrix(self, state: MetricsState, x: F64, y: F64) -> MetricsState:
        """:meth:`update` from the feature matrix and the encoded target."""
        score = np.asarray(self.model.decision_function(x), dtype=np.float64).reshape(-1)
        if self.task.kind == "regression":
            err = y - score
            state.sums += [y.size, err @ err, np.abs(err).sum(), y.sum(), y @ y]
            return state
        score = self._link(score)
        width = 2.0 * self.limit / self.bins
        index = np.clip(((score + self.limit) / width).astype(np.int64), 0, self.bins - 1)
        positive = y > 0.5
        state.positive += np.bincount(index[positive], minlength=self.bins)
        state.negative += np.bincount(index[~positive], minlength=self.bins)
        if state.low.size:
            np.minimum.at(state.low, index, score)
            np.maximum.at(state.high, index, score)
        prob = np.exp(-np.logaddexp(0.0, -score))
        loss = np.where(positive, np.logaddexp(0.0, -score), np.logaddexp(0.0, score))
        state.sums += [
            y.size,
            loss.sum(),
            ((prob - y) ** 2).sum(),
            ((prob >= 0.5) == positive).sum(),
        ]
        return state

    def merge(self, a: MetricsState, b: MetricsState) -> MetricsState:
        a.positive += b.positive
        a.negative += b.negative
        a.sums += b.sums
        if a.low.size:
            np.minimum(a.low, b.low, out=a.low)
            np.maximum(a.high, b.high, out=a.high)
        return a

    def finalize(self, state: MetricsState) -> Evaluation:
        n = int(state.sums[0])
        if n == 0:
            raise EmptyInputError("no holdout row to evaluate on")
        if self.task.kind == "regression":
            _, sse, sae, sy, syy = state.sums.tolist()
            total = syy - sy * sy / n
            r2 = 1.0 - sse / total if total > 0 else math.nan
            metrics = {
                "rmse": Metric("rmse", math.sqrt(sse / n), higher_is_better=False),
                "mae": Metric("mae", sae / n, higher_is_better=False),
                "r2": Metric("r2", r2),
            }
            return Evaluation(metrics, "rmse", n)
        exact = None if not state.low.size else state.high <= state.low
        auc, error = histogram_auc(state.positive, state.negative, exact=exact)
        _, loss, brier, correct = state.sums.tolist()
        metrics = {
            "auc": Metric("auc", auc, auc - error, auc + error),
            "log_loss": Metric("log_loss", loss / n, higher_is_better=False),
            "brier": Metric("brier", brier / n, higher_is_better=False),
            "accuracy": Metric("accuracy", correct / n),
        }
        return Evaluation(metrics, "auc", n)

    def _fields(self, state: MetricsState) -> dict[str, Field]:
        out: dict[str, Field] = {
            "positive": state.positive.copy(),
            "negative": state.negative.copy(),
            "sums": state.sums.copy(),
        }
        if self.calibrator is not None and self.task.kind == "binary":
            out["low"], out["high"] = state.low.copy(), state.high.copy()
        return out

    def _from_fields(self, fields: dict[str, Any]) -> MetricsState:
        width = self.bins if self.task.kind == "binary" else 0
        size = 4 if self.task.kind == "binary" else 5
        spread = width if self.calibrator is not None else 0
        return MetricsState(
            np.array(fields["positive"], dtype=np.float64).reshape(width),
            np.array(fields["negative"], dtype=np.float64).reshape(width),
            np.array(fields["sums"], dtype=np.float64).reshape(size),
            np.array(fields.get("low", ()), dtype=np.float64).reshape(spread),
            np.array(fields.get("high", ()), dtype=np.float64).reshape(spread),
        )


def histogram_auc(
    positive: F64, negative: F64, *, exact: npt.NDArray[np.bool_] | None = None
) -> tuple[float, float]:
    """The AUC of per-bin class counts (ties in a bin count half) and its error bound.

    ``exact`` marks the bins whose values are all equal: their pairs are true ties, which
    the AUC counts half too, so they add nothing to the bound.

    Returns
    -------
    (auc, error) : tuple of float
        The exact AUC of the scores lies in ``[auc - error, auc + error]``; ``nan`` for
        both when a class is absent.
    """
    pos, neg = float(positive.sum()), float(negative.sum())
    if pos == 0.0 or neg == 0.0:
        return math.nan, math.nan
    below = np.cumsum(negative) - negative
    pairs = float(positive @ below) + 0.5 * float(positive @ negative)
    spread = negative if exact is None else np.where(exact, 0.0, negative)
    shared = float(positive @ spread)
    return pairs / (pos * neg), 0.5 * shared / (pos * neg)


# -- fitting ---------------------------------------------------------------------------


def _check_task(task: Task) -> None:
    if task.kind == "multiclass":
        raise ConfigError(
            f"streaming training fits binary and regression targets; {task.target!r} has "
            f"{len(task.classes)} classes: train it in memory (streaming=False, local engine)"
        )


def _pass(engine: Any, source: Any, parts: Mapping[str, Aggregator[Any, Any]]) -> dict[str, Any]:
    """One engine pass of several aggregators; their results by name."""
    result = engine.aggregate(source, Joined(dict(parts)))
    return dict(result)


def _fitted_linear(model: Any, beta: F64, design: Design) -> Model:
    model._set_fit(beta, design)
    return model  # type: ignore[no-any-return]


def fit_streaming(
    engine: Any,
    source: Any,
    task: Task,
    pipelines: Mapping[str, FeaturePipeline],
    split: HashSplit,
    *,
    candidates: Sequence[str] = tuple(STREAMING_CANDIDATES),
    alpha: float = 1.0,
    max_iter: int = 100,
    tol: float = 1e-10,
    part: str = "train",
    validation: HashSplit | None = None,
    contract: Schema | None = None,
    start: F64 | None = None,
    progress: Any = None,
) -> dict[str, Model]:
    """Fit the streaming candidates on the training side of ``split``, by engine passes.

    Parameters
    ----------
    engine : Engine
        Runs each pass (:meth:`~suture.engines.base.Engine.aggregate`).
    source : Any
        What the engine reads: the valid rows.
    task : Task
        A binary or regression task.
    pipelines : mapping of str to FeaturePipeline
        Fitted pipelines by style (``"linear"``, and ``"binned"`` for naive Bayes).
    split : HashSplit
        The holdout; only the training side is folded.
    candidates : sequence of str
        Among :data:`STREAMING_CANDIDATES`; the ones that do not fit the task are skipped.
    alpha, max_iter, tol : float, int, float
        The L2 penalty of ridge and logistic regression, and logistic regression's Newton
        steps and step tolerance (as :class:`~suture.models.linear.Logistic`).
    part : {"train", "fit", "all"}, default "train"
        The rows fitted on (see :class:`RowFilter`).
    validation : HashSplit, optional
        Splits the training side into ``fit`` and ``validation`` rows.
    contract : Schema, optional
        Validate each batch and fit on its valid rows only.
    start : ndarray, optional
        Logistic regression's first coefficients (intercept first; default zero).
    progress : callable, optional
        Called with ``(stage, message)`` before each pass.

    Returns
    -------
    dict of str to Model
        The fitted candidates by name, in order of simplicity.

    Notes
    -----
    The first pass folds the Gram matrix of the linear design (ridge; the baseline from
    its first row), naive Bayes' per-class sums and logistic regression's first Newton
    step at zero; each further Newton step (with step halving when the penalized
    log-likelihood falls) is one more pass.
    """
    from suture.models.baseline import Baseline
    from suture.models.linear import (
        GramAggregator,
        Logistic,
        NewtonStep,
        Ridge,
        _penalty,
        _solve,
    )
    from suture.models.naive_bayes import NaiveBayes

    _check_task(task)
    names = [
        n
        for n in STREAMING_CANDIDATES
        if n in candidates
        and not (n == "naive_bayes" and task.kind == "regression")
        and not (n == "logistic" and task.kind == "regression")
        and not (n == "linear" and task.kind != "regression")
    ]
    linear = pipelines["linear"]
    p = linear.n_features_
    columns = matrix_columns(p)
    design = linear.design(task)
    penalty = _penalty(p + 1, float(alpha), intercept=True)

    def on(style: str, inner: Aggregator[Any, Any]) -> Transformed[Any]:
        return Transformed(
            pipelines[style],
            inner,
            task=task,
            split=split,
            part=part,
            validation=validation,
            contract=contract,
        )

    parts: dict[str, Aggregator[Any, Any]] = {"gram": on("linear", GramAggregator(columns, TARGET))}
    if "naive_bayes" in names:
        binned = pipelines["binned"]
        parts["naive_bayes"] = on(
            "binned", NaiveBayesAggregator(binned.n_features_, len(task.classes))
        )
    beta = np.zeros(p + 1) if start is None else np.asarray(start, dtype=np.float64).copy()
    if "logistic" in names:
        parts["newton"] = on("linear", NewtonStep(columns, TARGET, beta))
    if progress is not None:
        progress("fit", "one pass: the Gram matrix, naive Bayes sums and a first Newton step")
    first = _pass(engine, source, parts)
    gram = first["gram"]
    if gram.n == 0:
        raise EmptyInputError("no training row is left after the holdout split")
    out: dict[str, Model] = {}
    for name in names:
        if name == "baseline":
            mean = float(gram.xty[0] / gram.xtx[0, 0])
            model = Baseline()
            if task.kind == "regression":
                model.intercept_ = np.array([mean])
            else:
                rate = float(np.clip(mean, 1e-12, 1 - 1e-12))
                model.intercept_ = np.array([math.log(rate / (1.0 - rate))])
            model.design_ = design
            out[name] = model
        elif name == "naive_bayes":
            out[name] = NaiveBayes().fit_stats(
                first["naive_bayes"], design=pipelines["binned"].design(task)
            )
        elif name == "linear":
            beta_ridge = _solve(gram.xtx + penalty, gram.xty)
            out[name] = _fitted_linear(Ridge(alpha=alpha), beta_ridge, design)
        else:
            out[name] = _newton(
                engine,
                source,
                lambda b: on("linear", NewtonStep(columns, TARGET, b)),
                first["newton"],
                beta,
                penalty,
                Logistic(alpha=alpha, max_iter=max_iter, tol=tol),
                design,
                progress,
            )
    return out


def _newton(
    engine: Any,
    source: Any,
    step_at: Any,
    state: Any,
    beta: F64,
    penalty: F64,
    model: Any,
    design: Design,
    progress: Any,
) -> Model:
    """Newton's method with step halving, one engine pass per evaluated coefficient vector."""

    def objective(s: Any, b: F64) -> float:
        return float(s.loglik - 0.5 * b @ penalty @ b)

    current = objective(state, beta)
    converged, iteration = False, 0
    for iteration in range(1, int(model.max_iter) + 1):
        gradient = state.gradient - penalty @ beta
        step = _solve_step(state.hessian + penalty, gradient)
        size = 1.0
        for _ in range(40):
            candidate = beta + size * step
            if progress is not None:
                progress("fit", f"logistic: Newton step {iteration}")
            trial = engine.aggregate(source, step_at(candidate))
            value = objective(trial, candidate)
            if value >= current - 1e-12 * abs(current):
                break
            size /= 2.0
        beta, state, current = candidate, trial, value
        if float(np.max(np.abs(size * step))) < float(model.tol):
            converged = True
            break
    model.n_iter_, model.converged_ = iteration, converged
    return _fitted_linear(model, beta, design)


def _solve_step(a: F64, b: F64) -> F64:
    from suture.models.linear import _solve

    return _solve(a, b)


def evaluate_streaming(
    engine: Any,
    source: Any,
    models: Mapping[str, Model],
    pipelines: Mapping[str, FeaturePipeline],
    split: HashSplit,
    *,
    part: str = "holdout",
    validation: HashSplit | None = None,
    contract: Schema | None = None,
) -> dict[str, Evaluation]:
    """Every model's metrics, in one engine pass over one part of the rows.

    ``pipelines`` maps a model's name to the pipeline it was fitted on; ``part``,
    ``validation`` and ``contract`` choose the rows as :class:`RowFilter` does (default:
    the holdout side of ``split``).
    """
    parts: dict[str, Aggregator[Any, Any]] = {
        name: Transformed(
            pipelines[name],
            HoldoutMetrics(model),
            task=model.design_.task,
            split=split,
            part=part,
            validation=validation,
            contract=contract,
        )
        for name, model in models.items()
    }
    return {name: value for name, value in _pass(engine, source, parts).items()}


# -- the whole run ---------------------------------------------------------------------


def _split_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The columns that key the split: every scalar column of the valid rows."""
    return tuple(f.name for f in schema if not pa.types.is_nested(f.type))


def _beta(model: Model) -> F64 | None:
    coef = getattr(model, "coef_", None)
    if coef is None:
        return None
    return np.concatenate([np.ravel(model.intercept_), np.ravel(coef)])  # type: ignore[attr-defined]


def train_streaming(
    source: Any,
    options: Any,
    contract: Schema | None,
    engine: Any,
    progress: Any = None,
    workdir: str | Path | None = None,
) -> Any:
    """Train from engine passes only and return the :class:`~suture.models.bundle.ModelBundle`.

    The rows are never held: each stage is one pass of an aggregator (see the module
    notes) over the source as the engine reads it, every batch validated against the
    contract first.  The stages: a contract (inferred by a first profile when none is
    given); the rows read, quarantined and without a target, and the target's summary
    (the task); the profile and target summaries of the training side of the hash split;
    winnowing; pipelines fitted from the profile; the streaming candidates fitted on the
    training side less a validation share (a second hash split, seed ``seed + 1``),
    measured on it, selected by the same rule as in memory, refitted on the whole
    training side and measured on the holdout.

    Parameters
    ----------
    source : Any
        What ``engine`` reads (a path, an Arrow table, a Spark DataFrame...).
    options : TrainOptions
        As :func:`suture.train`; ``time_column`` is not used for the split (the holdout
        is the hash split), and only :data:`STREAMING_CANDIDATES` are fitted: the other
        candidates asked for are named in one note of the bundle.
    contract : Schema or None
    engine : Any
        As :func:`suture.engines.resolve_engine`.
    progress : callable, optional
        Called with ``(stage, message)``.
    workdir : path, optional
        On the local engine, where the transformed matrices are spilled for the passes
        after the pipelines are fitted (a temporary folder made there and deleted at the
        end; default: the system's temporary folder).  See :mod:`suture.models.spilled`.

    Returns
    -------
    ModelBundle
    """
    import time

    from suture.features import FeaturePipeline

    started = time.perf_counter()
    head = _first_pass(source, options, contract, engine, progress)
    _check_task(head.task)
    fraction = SAMPLE_ROWS / max(head.used, 1)
    front = _profile_pass(source, options, head, progress, {"fit": (fraction, options.seed + 2)})
    names = [n for n in STREAMING_CANDIDATES if n in options.candidates]
    if not names:
        raise ConfigError(
            f"no candidate among {', '.join(options.candidates)} fits from aggregators; "
            f"streaming training fits {', '.join(STREAMING_CANDIDATES)}"
        )
    styles = {STREAMING_CANDIDATES[n] for n in names} | {"linear"}
    pipes = {s: FeaturePipeline(style=s).fit(front.profile, front.kept) for s in sorted(styles)}
    runner, task = head.runner, head.task
    split, validation = front.split, front.validation
    with _fitting_engine(
        runner, source, pipes, task, split, validation, head.contract, workdir, progress
    ) as fitter:
        return _fit_and_bundle(
            fitter, source, options, head.contract, runner, progress, started, head.counts,
            head.used, task, front.split, front.validation, front.profile, front.decisions,
            names, pipes, front.samples["fit"],
        )  # fmt: skip


@dataclass
class _Head:
    """What the first pass tells: the engine, the contract, the row counts and the task."""

    runner: Any
    origin: str
    contract: Schema
    valid_schema: pa.Schema
    columns: tuple[str, ...]
    counts: RowCounts
    used: int
    task: Task


def _first_pass(
    source: Any, options: Any, contract: Schema | None, engine: Any, progress: Any
) -> _Head:
    """The contract (inferred when none is given), the rows counted and the target's task."""
    import suture
    from suture.engines import resolve_engine
    from suture.errors import SchemaError
    from suture.models.task import infer_task
    from suture.profile import ProfileAggregator
    from suture.schema.contract import Schema
    from suture.train import _check_columns, _say

    runner = resolve_engine(engine, source)
    schema = runner.schema_of(source)
    origin = runner.describe(source)
    _check_columns(schema.names, options, origin)
    target = options.target
    if contract is None:
        _say(progress, "contract", "inferring a contract from a first profile")
        contract = Schema.infer(suture.profile(source, engine=runner))
    valid_schema = contract.validator(schema, origin).valid_schema()
    if target not in valid_schema.names:
        raise SchemaError(f"the contract has no column {target!r}, the target")
    columns = _split_columns(valid_schema)
    _say(progress, "contract", "checking the rows against the contract and reading the target")
    first = runner.aggregate(
        source,
        Joined(
            {
                "counts": CountRows(contract, target, columns),
                "target": Filtered(
                    RowFilter(target, contract=contract),
                    ProfileAggregator(pa.schema([valid_schema.field(target)])),
                ),
            }
        ),
    )
    counts: RowCounts = first["counts"]
    used = counts.read - counts.quarantined - counts.no_target
    if used == 0:
        raise EmptyInputError(
            f"{origin}: no row is left to train on ({counts.read} read, {counts.quarantined} "
            f"broke the contract, {counts.no_target} had no target)"
        )
    task = infer_task(first["target"][target], kind=options.task, positive=options.positive)
    return _Head(runner, origin, contract, valid_schema, columns, counts, used, task)


@dataclass
class _Front:
    """What the profile pass tells: the splits, the profile, winnowing and row samples."""

    split: HashSplit
    validation: HashSplit
    profile: Any
    decisions: list[Any]
    kept: list[str]
    samples: dict[str, pa.Table | None]


def _profile_pass(
    source: Any,
    options: Any,
    head: _Head,
    progress: Any,
    samples: Mapping[str, tuple[float, int]],
) -> _Front:
    """One pass: the training side's profile and target summaries, and the row samples.

    ``samples`` maps a part of the rows (see :class:`RowFilter`) to the fraction of them
    sampled and the seed of the sample (:class:`SampleRows`); then winnowing.
    """
    from suture.errors import SchemaError
    from suture.features.target import ProfileWithTarget
    from suture.features.winnow import winnow
    from suture.profile import Profile
    from suture.train import _say

    runner, contract, task, target = head.runner, head.contract, head.task, options.target
    split = HashSplit(head.columns, test_size=options.test_size, seed=options.seed)
    validation = HashSplit(head.columns, test_size=0.2, seed=options.seed + 1)
    _say(progress, "profile", "profiling the training rows with the target")
    summarizer = ProfileWithTarget(head.valid_schema, task)
    samplers = {
        part: SampleRows(head.columns, fraction, seed=seed)
        for part, (fraction, seed) in samples.items()
    }
    parts: dict[str, Aggregator[Any, Any]] = {
        "summary": Filtered(
            RowFilter(target, split=split, part="train", contract=contract), summarizer
        )
    }
    for part, sampler in samplers.items():
        rows = RowFilter(target, split=split, part=part, validation=validation, contract=contract)
        parts[f"sample_{part}"] = Filtered(rows, sampler)
    states = runner.aggregate_state(source, Joined(parts))
    state = states["summary"]
    profile = Profile(
        summarizer.profile, state["profile"], {"source": head.origin, "engine": runner.name}
    )
    summaries = summarizer.target.finalize(state["target"])
    _say(progress, "winnow", "choosing the columns")
    decisions = winnow(
        profile,
        summaries,
        task,
        contract=contract,
        include=options.include,
        exclude=(
            *options.exclude,
            *(() if options.time_column is None else (options.time_column,)),
        ),
    )
    kept = [d.column for d in decisions if d.keep and d.column != target]
    if not kept:
        dropped = "; ".join(f"{d.column}: {d.reason}" for d in decisions if d.column != target)
        raise SchemaError(
            f"no column is left to train on after winnowing ({dropped or 'no columns'}); "
            "force columns in with --include"
        )
    tables = {part: s.finalize(states[f"sample_{part}"]) for part, s in samplers.items()}
    return _Front(split, validation, profile, decisions, kept, tables)


@contextlib.contextmanager
def _fitting_engine(
    runner: Any,
    source: Any,
    pipes: Mapping[str, FeaturePipeline],
    task: Task,
    split: HashSplit,
    validation: HashSplit,
    contract: Schema,
    workdir: str | Path | None,
    progress: Any,
) -> Iterator[Any]:
    """The engine of the passes after the pipelines are fitted.

    On the local engine: the matrices spilled once to a temporary folder (deleted when
    done), folded by :class:`~suture.models.spilled.SpilledEngine`; on any other engine
    (Spark) the engine itself, every pass reading the source again.
    """
    if runner.name != "local":
        yield runner
        return
    from suture.models.spilled import spill
    from suture.train import _say

    with tempfile.TemporaryDirectory(prefix="suture-spill-", dir=workdir) as folder:
        _say(progress, "features", f"transforming the rows once, into {folder}")
        yield spill(
            runner, source, folder, pipes, task=task, split=split, validation=validation,
            contract=contract,
        )  # fmt: skip


def _fit_and_bundle(
    runner: Any,
    source: Any,
    options: Any,
    contract: Schema,
    engine: Any,
    progress: Any,
    started: float,
    counts: RowCounts,
    used: int,
    task: Task,
    split: HashSplit,
    validation: HashSplit,
    profile: Any,
    decisions: Any,
    names: list[str],
    pipes: dict[str, FeaturePipeline],
    sample: pa.Table | None,
) -> Any:
    """Fit, measure, select, refit and bundle.

    The passes run on ``runner`` (the spilled matrices, or the engine itself); ``engine``
    is the engine that read the source, named in the lineage.
    """
    import time

    from suture._manifest import created_now
    from suture.models.bundle import ModelBundle
    from suture.models.result import Candidate, TrainResult
    from suture.models.robustness import sensitivity
    from suture.models.select import default_tolerance, select, warnings
    from suture.train import _say, _versions

    _say(
        progress, "fit", f"fitting {', '.join(names)} on the training rows less a validation share"
    )
    trial = fit_streaming(
        runner,
        source,
        task,
        pipes,
        split,
        candidates=names,
        part="fit",
        start=_sample_start(sample, pipes["linear"], task, 1.0, used)
        if "logistic" in names
        else None,
        progress=progress,
        validation=validation,
        contract=contract,
    )
    chosen = {n: pipes[STREAMING_CANDIDATES[n]] for n in trial}
    _say(progress, "evaluate", "measuring every candidate on the validation rows and the holdout")
    both = _pass(
        runner,
        source,
        {
            part: Joined(
                {
                    name: Transformed(
                        chosen[name],
                        HoldoutMetrics(model),
                        task=task,
                        split=split,
                        part=part,
                        validation=validation,
                        contract=contract,
                    )
                    for name, model in trial.items()
                }
            )
            for part in ("validation", "holdout")
        },
    )
    checked, held = dict(both["validation"]), dict(both["holdout"])
    seconds = time.perf_counter() - started
    results = [
        Candidate(name, model, chosen[name], checked[name], held[name], seconds, model.get_params())
        for name, model in trial.items()
    ]
    winner, given_up = select(results, task=task, tolerance=options.tolerance)
    _say(progress, "refit", f"refitting {winner} on all training rows")
    refit = fit_streaming(
        runner,
        source,
        task,
        pipes,
        split,
        candidates=[winner],
        part="train",
        start=_beta(trial[winner]),
        contract=contract,
        progress=progress,
    )
    final = evaluate_streaming(runner, source, refit, chosen, split, contract=contract)
    results = [
        c if c.name != winner else replace(c, model=refit[winner], holdout=final[winner])
        for c in results
    ]
    best = next(c for c in results if c.name == winner)
    _say(progress, "robustness", f"bounding how far each input moves {winner}'s score")
    bounds = sensitivity(
        chosen[winner], best.model, profile=profile, contract=contract, seed=options.seed
    )
    notes = warnings(task, results, winner, decisions=decisions)
    left = [n for n in options.candidates if n not in STREAMING_CANDIDATES]
    if left:
        notes.append(
            f"streaming training fits {', '.join(STREAMING_CANDIDATES)} only; not fitted: "
            f"{', '.join(left)}"
        )
    notes.extend(_pass_notes(options, counts))
    holdout_rows = held[winner].n
    lineage = {
        "data_fingerprint": f"rowhash:{counts.fingerprint:016x}",
        "contract_fingerprint": contract.fingerprint,
        "rows": {
            "read": counts.read,
            "quarantined": counts.quarantined,
            "no_target": counts.no_target,
            "used": used,
            "train": used - holdout_rows,
            "holdout": holdout_rows,
            "compared_on": used - holdout_rows - checked[winner].n,
        },
        "task": task.to_dict(),
        "parameters": {**options.to_dict(), "streaming": True, "engine": engine.name},
        "seed": options.seed,
        "versions": _versions(),
        "created": created_now(),
    }
    result = TrainResult(
        task=task,
        contract=contract,
        profile=profile,
        decisions=decisions,
        candidates=results,
        winner=winner,
        calibrator=None,
        sensitivity=bounds,
        tolerance=default_tolerance(task) if options.tolerance is None else options.tolerance,
        given_up=given_up,
        quarantined=counts.quarantined,
        warnings=notes,
        lineage=lineage,
    )
    return ModelBundle.from_result(result)


# -- the hybrid path -------------------------------------------------------------------

#: The training rows the hybrid path refits on by aggregator passes, by winner.
HYBRID_REFITS = frozenset(STREAMING_CANDIDATES)


def train_hybrid(
    source: Any,
    options: Any,
    contract: Schema | None,
    engine: Any,
    progress: Any = None,
    workdir: str | Path | None = None,
) -> Any:
    """Train a table too large to hold, with every candidate, and flat memory.

    The rows are read by engine passes as in :func:`train_streaming`: the contract pass
    (rows read, quarantined, without a target; the task), then one pass for the profile
    and target summaries of the training side of the hash split (winnowing uses every
    training row) and two seeded samples (:class:`SampleRows`): about
    ``options.max_fit_rows`` training rows and as many holdout rows.  Every candidate of
    :func:`suture.train` (the scorecards, the tree and LightGBM included) is
    cross-validated, calibrated and measured in memory on those samples, and the simplest
    within tolerance wins, as in memory.  A winner that fits from aggregators
    (:data:`HYBRID_REFITS`) is then refitted on every training row by engine passes over
    the spilled matrices; any other stays fitted on the training sample.  The winner is
    measured on the whole holdout in one more pass (with its calibrator); the other
    candidates' holdout figures are those of the holdout sample.  The lineage
    (``rows``, ``path``) and the bundle's notes say so.

    Parameters
    ----------
    source, options, contract, engine, progress, workdir
        As :func:`train_streaming`.

    Returns
    -------
    ModelBundle or None
        None for a multiclass target (its holdout metrics do not stream): the caller
        trains it in memory.
    """
    from suture._manifest import created_now
    from suture.models.bundle import ModelBundle
    from suture.models.result import TrainResult
    from suture.models.robustness import sensitivity
    from suture.models.select import default_tolerance, warnings
    from suture.train import _Rows, _SampleRun, _say, _versions

    head = _first_pass(source, options, contract, engine, progress)
    if head.task.kind == "multiclass":
        return None
    task, runner, counts = head.task, head.runner, head.counts
    # A little over max_fit_rows rows are expected in each sample; the first
    # max_fit_rows by hash are kept, so the sample is bounded and seeded.
    wanted = int(options.max_fit_rows)
    train_share = max(1.0 - float(options.test_size), 1e-9)
    fractions = {
        "train": (1.05 * wanted / max(head.used * train_share, 1.0), options.seed + 2),
        "holdout": (1.05 * wanted / max(head.used * (1.0 - train_share), 1.0), options.seed + 3),
    }
    front = _profile_pass(source, options, head, progress, fractions)
    samples = {p: front.samples[p] for p in fractions}
    for part, table in samples.items():
        if table is None or table.num_rows == 0:
            raise EmptyInputError(f"{head.origin}: the {part} sample of the rows is empty")
    train_sample = _bounded(samples["train"], wanted)
    holdout_sample = _bounded(samples["holdout"], wanted)
    rows = _Rows(
        train_sample, head.contract, counts.read, counts.quarantined, counts.no_target, None
    )
    run = _SampleRun(
        options, rows, task, progress, holdout_sample, (front.profile, front.decisions)
    )
    _say(
        progress,
        "fit",
        f"comparing the candidates on a sample of {train_sample.num_rows} training rows",
    )
    compared = run.compare()
    winner = compared.winner
    chosen = compared.chosen
    pipeline = chosen.pipeline
    assert pipeline is not None  # every candidate is fitted with its pipeline
    split, validation = front.split, front.validation
    pipes = {"winner": pipeline}
    refitted = winner in HYBRID_REFITS
    # A refit makes several passes: the matrices are spilled once (local engine); the
    # holdout alone is one pass over the source.
    passes = (
        _fitting_engine(
            runner, source, pipes, task, split, validation, head.contract, workdir, progress
        )
        if refitted
        else contextlib.nullcontext(runner)
    )
    with passes as fitter:
        model = chosen.model
        if refitted:
            _say(progress, "refit", f"refitting {winner} on all training rows")
            model = _refit_streaming(fitter, source, task, winner, model, pipeline, split, head)
        _say(progress, "evaluate", f"measuring {winner} on the whole holdout")
        metrics = HoldoutMetrics(model, calibrator=chosen.calibrator)
        final = _pass(
            fitter,
            source,
            {
                "holdout": Transformed(
                    pipeline,
                    metrics,
                    task=task,
                    split=split,
                    part="holdout",
                    contract=head.contract,
                )
            },
        )["holdout"]
    results = [
        c if c.name != winner else replace(c, model=model, holdout=final) for c in compared.results
    ]
    train_rows = head.used - final.n
    final_fit = train_rows if refitted else train_sample.num_rows
    _say(progress, "robustness", f"bounding how far each input moves {winner}'s score")
    bounds = sensitivity(
        pipeline,
        model,
        profile=front.profile,
        contract=head.contract,
        reference=train_sample,
        seed=options.seed,
    )
    counts_by_class = np.bincount(run.y_train.astype(np.int64)) if task.is_classification else None
    notes = warnings(
        task, results, winner, class_counts=counts_by_class, decisions=compared.decisions
    )
    notes.append(
        f"{head.used:,} rows: the candidates were compared on a seeded sample of "
        f"{train_sample.num_rows:,} of the {train_rows:,} training rows (their holdout "
        f"figures on a sample of {holdout_sample.num_rows:,} of the {final.n:,} holdout "
        "rows); "
        + (
            f"{winner} was refitted on all {train_rows:,} training rows by aggregator passes"
            if refitted
            else f"{winner} does not fit from aggregators and stays fitted on the sample"
        )
        + f" and measured on the whole holdout of {final.n:,} rows"
    )
    notes.extend(_pass_notes(options, counts))
    lineage = {
        "data_fingerprint": f"rowhash:{counts.fingerprint:016x}",
        "contract_fingerprint": head.contract.fingerprint,
        "path": "hybrid",
        "rows": {
            "read": counts.read,
            "quarantined": counts.quarantined,
            "no_target": counts.no_target,
            "used": head.used,
            "train": train_rows,
            "holdout": final.n,
            "compared_on": train_sample.num_rows,
            "holdout_sample": holdout_sample.num_rows,
            "final_fit": final_fit,
        },
        "task": task.to_dict(),
        "parameters": {
            **options.to_dict(),
            "path": "hybrid",
            "refit": "all training rows" if refitted else "sample",
            "engine": runner.name,
        },
        "seed": options.seed,
        "versions": _versions(),
        "created": created_now(),
    }
    result = TrainResult(
        task=task,
        contract=head.contract,
        profile=front.profile,
        decisions=compared.decisions,
        candidates=results,
        winner=winner,
        calibrator=chosen.calibrator,
        sensitivity=bounds,
        tolerance=default_tolerance(task) if options.tolerance is None else options.tolerance,
        given_up=compared.given_up,
        quarantined=counts.quarantined,
        warnings=notes,
        lineage=lineage,
    )
    return ModelBundle.from_result(result)


def _pass_notes(options: Any, counts: RowCounts) -> list[str]:
    """The notes of the streamed passes: the hash split, quarantined rows, no target."""
    notes = []
    if options.time_column is not None:
        notes.append(
            f"the holdout is a hash split of the rows, not the latest by {options.time_column!r}"
        )
    if counts.quarantined:
        notes.append(
            f"{counts.quarantined} of {counts.read} rows broke the contract and were not trained on"
        )
    if counts.no_target:
        notes.append(f"{counts.no_target} rows had no target and were left out")
    return notes


def _bounded(table: pa.Table, rows: int) -> pa.Table:
    """The first ``rows`` rows of a sample (ordered by its hash): a seeded, bounded sample."""
    return table if table.num_rows <= rows else table.slice(0, rows).combine_chunks()


def _refit_streaming(
    engine: Any,
    source: Any,
    task: Task,
    name: str,
    model: Model,
    pipeline: FeaturePipeline,
    split: HashSplit,
    head: _Head,
) -> Model:
    """``model`` (one of :data:`HYBRID_REFITS`) refitted on every training row by passes."""
    design = model.design_
    if name == "naive_bayes":
        from suture.models.naive_bayes import NaiveBayes

        aggregator = NaiveBayesAggregator(design.n_features, len(task.classes))
        stats = _pass(
            engine,
            source,
            {
                "nb": Transformed(
                    pipeline, aggregator, task=task, split=split, contract=head.contract
                )
            },
        )["nb"]
        assert isinstance(model, NaiveBayes)
        return model.fit_stats(stats, design=design)
    alpha = float(getattr(model, "alpha_", getattr(model, "alpha", 1.0)))
    fitted = fit_streaming(
        engine,
        source,
        task,
        {"linear": pipeline},
        split,
        candidates=[name],
        alpha=alpha,
        part="train",
        start=_beta(model) if name == "logistic" else None,
        contract=head.contract,
    )
    return fitted[name]
