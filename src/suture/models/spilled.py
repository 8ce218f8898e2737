"""Transform once, fit many times: the streamed training matrices spilled to disk.

Streaming training makes a dozen passes after the pipelines are fitted (the Gram matrix,
each Newton step of logistic regression, the validation and holdout metrics, the refit),
and each pass over the source reads, validates, hashes and transforms every batch again.
On the local engine :func:`spill` does that work once: one engine pass (on every core)
writes, for each side of the split (``fit``, ``validation``, ``holdout``), chunks of at
most :data:`~suture.models.streaming.MATRIX_ROWS` rows: the encoded target and the matrix
of every pipeline style, each chunk an ``.npy`` file in a directory the caller owns and
deletes.  :class:`SpilledEngine` then runs the very aggregators of
:func:`~suture.models.streaming.fit_streaming` and
:func:`~suture.models.streaming.evaluate_streaming` over those chunks, with no Arrow in
between.

Memory stays flat: a pass holds a few chunks (plain file reads, not memory maps, so the
files sit in the page cache, not in the process), whatever the rows.  The files take
``rows x (8 p_linear + p_binned) + 8 rows`` bytes: a matrix of whole numbers in
``[-128, 127]`` (the binned style's indicators) is stored as ``int8``, anything else as
``float64``, so what is read back is the transformed matrix exactly.

The states are deterministic: every chunk is folded from zero and the chunk states are
merged in the order of the spill (the engine's piece order, then the batch order), so
the result does not depend on the threads that fold them.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture._codec import Field
from suture.aggregate import Aggregator, Framed, Joined, copy_state
from suture.errors import InternalError, OutputError, SchemaError
from suture.models.base import Task, encode_target
from suture.models.linear import GramAggregator, GramState, NewtonState, NewtonStep
from suture.models.naive_bayes import NaiveBayesStats
from suture.models.streaming import (
    MATRIX_ROWS,
    HashSplit,
    HoldoutMetrics,
    NaiveBayesAggregator,
    RowFilter,
    Transformed,
    _digest,
    _matrix_batch,
    matrix_columns,
)

if TYPE_CHECKING:
    from suture.features import FeaturePipeline
    from suture.schema.contract import Schema

__all__ = ["SPILLED_PARTS", "Chunk", "SpillMatrices", "SpilledEngine", "spill"]

F64 = npt.NDArray[np.float64]

#: The sides of the split a spill keeps apart; ``train`` is ``fit`` and ``validation``.
SPILLED_PARTS = ("fit", "validation", "holdout")
_UNION = {"fit": ("fit",), "validation": ("validation",), "holdout": ("holdout",),
          "train": ("fit", "validation"), "all": SPILLED_PARTS}  # fmt: skip

#: Chunks folded ahead of the merge, per thread.
_AHEAD = 2


@dataclass(frozen=True)
class Chunk:
    """One spilled chunk: its side of the split, its rows and its files by style (and ``y``)."""

    part: str
    rows: int
    files: dict[str, str]


def _compact(x: F64) -> npt.NDArray[Any]:
    """``x`` as ``int8`` when that is exact (indicators), else as it is (float64)."""
    with np.errstate(invalid="ignore", over="ignore"):
        small = x.astype(np.int8)
    return small if np.array_equal(small, x) else x


class SpillMatrices(Framed[list[Chunk]]):
    """Write the transformed chunks of every side of the split; the state lists them.

    Parameters
    ----------
    directory : path
        Where the chunk files go (every worker process writes there itself).
    pipelines : mapping of str to FeaturePipeline
        Fitted pipelines by style; each chunk holds the matrix of each.
    task : Task
        The target column and its encoding (the ``y`` file).
    split, validation : HashSplit
        The holdout, and the validation share of the training side.
    contract : Schema, optional
        Validate each batch first and keep only its valid rows.

    Notes
    -----
    Rows without a target are left out, as :class:`~suture.models.streaming.RowFilter`
    does.  The state is the list of chunks in the order written; ``merge`` appends, so it
    is associative but not commutative, and the engines merge pieces in index order.
    """

    kind = "spill_matrices"

    def __init__(
        self,
        directory: str | Path,
        pipelines: Mapping[str, FeaturePipeline],
        *,
        task: Task,
        split: HashSplit,
        validation: HashSplit,
        contract: Schema | None = None,
    ) -> None:
        if split.columns != validation.columns:
            raise InternalError("the split and the validation split must hash the same columns")
        self.directory = str(directory)
        self.pipelines = dict(pipelines)
        self.task = task
        self.split = split
        self.validation = validation
        self.filter = RowFilter(task.target, contract=contract)

    def config(self) -> str:
        return (
            f"spill_matrices(styles={sorted(self.pipelines)!r},{self.split.config()},"
            f"{self.validation.config()},{self.filter.config()})"
        )

    def zero(self) -> list[Chunk]:
        return []

    def update(self, state: list[Chunk], batch: pa.RecordBatch) -> list[Chunk]:
        rows = self.filter.rows(batch)
        if rows.num_rows == 0:
            return state
        keys = self.split.keys(rows)
        held = self.split.holdout_of_hashes(self.split.hashes_of_keys(keys, rows.num_rows))
        checked = self.validation.holdout_of_hashes(
            self.validation.hashes_of_keys(keys, rows.num_rows)
        )
        masks = {"fit": ~held & ~checked, "validation": ~held & checked, "holdout": held}
        for part in SPILLED_PARTS:
            mask = masks[part]
            if not mask.any():
                continue
            side = rows if mask.all() else rows.filter(pa.array(mask))
            for start in range(0, side.num_rows, MATRIX_ROWS):
                state.append(self._write(part, side.slice(start, MATRIX_ROWS)))
        return state

    def _write(self, part: str, rows: pa.RecordBatch) -> Chunk:
        arrays: dict[str, npt.NDArray[Any]] = {
            "y": encode_target(rows.column(self.task.target), self.task)
        }
        for style, pipeline in sorted(self.pipelines.items()):
            arrays[style] = _compact(pipeline.transform(rows))
        files = {}
        for name, array in arrays.items():
            file = f"{uuid.uuid4().hex}.npy"
            _save(Path(self.directory) / file, array)
            files[name] = file
        return Chunk(part, rows.num_rows, files)

    def merge(self, a: list[Chunk], b: list[Chunk]) -> list[Chunk]:
        return [*a, *b]

    def finalize(self, state: list[Chunk]) -> list[Chunk]:
        return state

    def _fields(self, state: list[Chunk]) -> dict[str, Field]:
        return {"chunks": json.dumps([[c.part, c.rows, c.files] for c in state])}

    def _from_fields(self, fields: dict[str, Any]) -> list[Chunk]:
        return [Chunk(str(p), int(n), dict(f)) for p, n, f in json.loads(str(fields["chunks"]))]


def _save(path: Path, array: npt.NDArray[Any]) -> None:
    """Write one chunk file; a full disk or an unwritable folder is an :class:`OutputError`."""
    try:
        np.save(path, array, allow_pickle=False)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(
            f"streamed training cannot write its temporary matrices to {path.parent}: "
            f"{reason}. They hold the transformed training rows until training ends (about "
            "1.5 GB per million rows of 20 columns); free space there, or point TMPDIR (or "
            "the output's folder) at a disk with room."
        ) from exc


def spill(
    engine: Any,
    source: Any,
    directory: str | Path,
    pipelines: Mapping[str, FeaturePipeline],
    *,
    task: Task,
    split: HashSplit,
    validation: HashSplit,
    contract: Schema | None = None,
    workers: int | None = None,
) -> SpilledEngine:
    """One engine pass that spills the matrices; the engine that folds them.

    Parameters are those of :class:`SpillMatrices` (``engine`` must be local: its worker
    processes write to ``directory``), and ``workers``, the threads of the later passes
    (default: the engine's, else every core).
    """
    aggregator = SpillMatrices(
        directory, pipelines, task=task, split=split, validation=validation, contract=contract
    )
    chunks = engine.aggregate(source, aggregator)
    threads = workers or getattr(engine, "workers", None)
    return SpilledEngine(directory, chunks, aggregator, workers=threads)


class SpilledEngine:
    """Fold :class:`~suture.models.streaming.Transformed` aggregators over spilled chunks.

    Parameters
    ----------
    directory : path
        Where the chunk files are.
    chunks : sequence of Chunk
        As :func:`spill` wrote them.
    spilled : SpillMatrices
        The aggregator that wrote them: an aggregator asking for another pipeline, task,
        split or contract is refused (it would be folded over other rows).
    workers : int, optional
        Threads that fold chunks (default: every core).

    Notes
    -----
    :meth:`aggregate` takes what an engine's ``aggregate`` takes (``source`` is not read)
    and returns the same result: a :class:`~suture.aggregate.Joined` of ``Transformed``
    aggregators, nested or not, or one ``Transformed``.  The Gram matrix, Newton steps,
    naive Bayes sums and holdout metrics fold the matrices directly; any other inner
    aggregator is handed the batch of columns ``x0 ..`` and ``y`` that ``Transformed``
    would hand it.
    """

    name = "local"

    def __init__(
        self,
        directory: str | Path,
        chunks: Sequence[Chunk],
        spilled: SpillMatrices,
        *,
        workers: int | None = None,
    ) -> None:
        import os

        self.directory = Path(directory)
        self.chunks = list(chunks)
        self.workers = int(workers or os.cpu_count() or 1)
        self._styles = {_digest(p.to_dict()): style for style, p in spilled.pipelines.items()}
        contract = spilled.filter.contract
        self._contract = None if contract is None else contract.fingerprint
        self._task = spilled.task
        self._kept: dict[tuple[str, str, str], Any] = {}
        self._split, self._validation = spilled.split.config(), spilled.validation.config()

    def rows(self, part: str) -> int:
        """The spilled rows of one part (``train`` and ``all`` are unions)."""
        return sum(c.rows for c in self.chunks if c.part in _UNION[part])

    def aggregate(self, source: Any, aggregator: Aggregator[Any, Any]) -> Any:
        """The result of ``aggregator`` over the spilled rows (``source`` is not read)."""
        return aggregator.finalize(self.aggregate_state(source, aggregator))

    def aggregate_state(self, source: Any, aggregator: Aggregator[Any, Any]) -> Any:
        """Like :meth:`aggregate` but return the state.

        Each side of the split is folded on its own and a union (``train``: ``fit``
        then ``validation``) merges the sides in that order.  The states of the Gram
        matrix, of Newton steps and of naive Bayes sums are kept by side, so the refit
        on the training side folds only the validation chunks again.
        """
        del source
        leaves = [leaf for _, leaf in _leaves(aggregator, ())]
        paths = [path for path, _ in _leaves(aggregator, ())]
        for leaf in leaves:
            self._check(leaf, leaf.filter.part)
        styles = [self._style(leaf) for leaf in leaves]
        sides: dict[tuple[int, str], Any] = {}
        for side in SPILLED_PARTS:
            wanted = [i for i, leaf in enumerate(leaves) if side in _UNION[leaf.filter.part]]
            todo = []
            for i in wanted:
                key = self._key(leaves[i], styles[i], side)
                kept = None if key is None else self._kept.get(key)
                if kept is None:
                    todo.append(i)
                else:
                    sides[i, side] = copy_state(leaves[i].inner, kept)
            if not todo:
                continue
            inners = [leaves[i].inner for i in todo]
            totals = [inner.zero() for inner in inners]
            chunks = [c for c in self.chunks if c.part == side]
            for states in self._fold(inners, [styles[i] for i in todo], chunks):
                totals = [a.merge(t, s) for a, t, s in zip(inners, totals, states, strict=True)]
            for i, total in zip(todo, totals, strict=True):
                sides[i, side] = total
                key = self._key(leaves[i], styles[i], side)
                if key is not None:
                    self._kept[key] = copy_state(leaves[i].inner, total)
        state = aggregator.zero()
        for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True)):
            folded = leaf.inner.zero()
            for side in _UNION[leaf.filter.part]:
                folded = leaf.inner.merge(folded, sides[i, side])
            state = _set(state, path, folded)
        return state

    @staticmethod
    def _key(leaf: Transformed[Any], style: str, side: str) -> tuple[str, str, str] | None:
        """Under what a side's state of ``leaf`` is kept (``None``: not kept)."""
        if isinstance(leaf.inner, GramAggregator | NewtonStep | NaiveBayesAggregator):
            return style, side, leaf.inner.config()
        return None

    def _style(self, leaf: Transformed[Any]) -> str:
        style = self._styles.get(leaf._pipeline_digest)
        if style is None:
            raise InternalError("an aggregator asked for a pipeline that was not spilled")
        return style

    def _check(self, leaf: Transformed[Any], part: str) -> None:
        f = leaf.filter
        contract = None if f.contract is None else f.contract.fingerprint
        same = (
            part in _UNION
            and f.target == self._task.target
            and leaf.task.to_dict() == self._task.to_dict()
            and contract == self._contract
            and (part == "all" or (f.split is not None and f.split.config() == self._split))
            and (
                part not in ("fit", "validation")
                or (f.validation is not None and f.validation.config() == self._validation)
            )
        )
        if not same:
            raise InternalError(
                f"an aggregator asked for rows ({f.config()}) other than the spilled ones"
            )

    def _fold(
        self, inners: list[Aggregator[Any, Any]], styles: list[str], chunks: list[Chunk]
    ) -> Iterator[list[Any]]:
        """Each chunk's states (one per inner aggregator, from zero), in chunk order."""

        def one(chunk: Chunk) -> list[Any]:
            y = np.load(self.directory / chunk.files["y"], allow_pickle=False)
            stored = {
                s: np.load(self.directory / chunk.files[s], allow_pickle=False) for s in set(styles)
            }
            matrices: dict[str, F64] = {}

            def matrix(style: str) -> F64:
                if style not in matrices:
                    matrices[style] = np.asarray(stored[style], dtype=np.float64)
                return matrices[style]

            states = []
            for inner, style in zip(inners, styles, strict=True):
                small = stored[style]
                if isinstance(inner, NaiveBayesAggregator) and small.dtype == np.int8:
                    states.append(inner.zero().merge(_naive_bayes_of_int8(small, y, inner.k)))
                else:
                    states.append(_fold_matrix(inner, inner.zero(), matrix(style), y))
            return states

        if self.workers <= 1:
            yield from map(one, chunks)
            return
        from threadpoolctl import threadpool_limits

        pending: deque[Future[list[Any]]] = deque()
        with (
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(self.workers, thread_name_prefix="suture-spilled") as pool,
        ):
            for chunk in chunks:
                pending.append(pool.submit(one, chunk))
                if len(pending) >= _AHEAD * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def _leaves(
    aggregator: Aggregator[Any, Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Transformed[Any]]]:
    if isinstance(aggregator, Transformed):
        yield path, aggregator
    elif isinstance(aggregator, Joined):
        for name, part in aggregator.parts.items():
            yield from _leaves(part, (*path, name))
    else:
        raise InternalError(
            f"spilled matrices fold Transformed aggregators, not {type(aggregator).__name__}"
        )


def _get(state: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        state = state[name]
    return state


def _set(state: Any, path: tuple[str, ...], value: Any) -> Any:
    if not path:
        return value
    _get(state, path[:-1])[path[-1]] = value
    return state


def _finite(x: F64, y: F64) -> tuple[F64, F64, int]:
    """The rows of ``x`` and ``y`` with no NaN or infinite value, and how many were left out."""
    keep = np.isfinite(x).all(axis=1) & np.isfinite(y)
    if keep.all():
        return x, y, 0
    return x[keep], y[keep], int(keep.size - keep.sum())


def _fold_matrix(inner: Aggregator[Any, Any], state: Any, x: F64, y: F64) -> Any:
    """``inner.update`` of the batch ``Transformed`` would make of ``x`` and ``y``."""
    columns = matrix_columns(x.shape[1])
    if isinstance(inner, GramAggregator) and inner.weight is None and inner.features == columns:
        return _gram(state, *_finite(x, y))
    if isinstance(inner, NewtonStep) and inner.features == columns:
        return _newton(state, inner.beta, *_finite(x, y))
    if isinstance(inner, NaiveBayesAggregator | HoldoutMetrics):
        return inner.update_matrix(state, x, y)
    return inner.update(state, _matrix_batch(x, y))


def _gram(state: GramState, x: F64, y: F64, skipped: int) -> GramState:
    """``X'X``, ``X'y`` and ``y'y`` with the intercept's column of ones, by blocks."""
    sums = x.sum(axis=0)
    state.xtx[0, 0] += x.shape[0]
    state.xtx[0, 1:] += sums
    state.xtx[1:, 0] += sums
    state.xtx[1:, 1:] += x.T @ x
    state.xty[0] += y.sum()
    state.xty[1:] += x.T @ y
    state.yty += float(y @ y)
    state.n += x.shape[0]
    state.skipped += skipped
    return state


def _newton(state: NewtonState, beta: F64, x: F64, y: F64, skipped: int) -> NewtonState:
    """One Newton step's sums at ``beta`` (intercept first), by blocks."""
    bad = (y != 0.0) & (y != 1.0)
    if bad.any():
        raise SchemaError(f"the target of a logistic regression must be 0 or 1, got {y[bad][0]!r}")
    eta = x @ beta[1:] + beta[0]
    prob = np.exp(-np.logaddexp(0.0, -eta))
    weight = prob * (1.0 - prob)
    scaled = x * np.sqrt(weight)[:, None]
    residual = y - prob
    state.hessian[0, 0] += weight.sum()
    cross = weight @ x
    state.hessian[0, 1:] += cross
    state.hessian[1:, 0] += cross
    state.hessian[1:, 1:] += scaled.T @ scaled
    state.gradient[0] += residual.sum()
    state.gradient[1:] += x.T @ residual
    state.loglik += float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    state.n += x.shape[0]
    state.skipped += skipped
    return state


def _naive_bayes_of_int8(x: npt.NDArray[np.int8], y: F64, k: int) -> NaiveBayesStats:
    """:meth:`NaiveBayesStats.of` of an ``int8`` matrix, in whole numbers.

    Every sum is of whole numbers far below 2**53, so it is exact and equals the float64
    sums of ``NaiveBayesStats.of`` bit for bit, at an eighth of the memory traffic.  A
    whole-number column is in {0, 1} when its values lie in [0, 1], and in {-1, 0, 1}
    when they lie in [-1, 1].
    """
    p = x.shape[1]
    codes = y.astype(np.int64)
    squared = x.astype(np.int16)
    squared *= squared
    sums, squares = np.zeros((k, p)), np.zeros((k, p))
    for c in range(k):
        rows = codes == c
        sums[c] = x[rows].sum(axis=0, dtype=np.int64)
        squares[c] = squared[rows].sum(axis=0, dtype=np.int64)
    if x.shape[0]:
        low, high = x.min(axis=0), x.max(axis=0)
        binary, signed = (low >= 0) & (high <= 1), (low >= -1) & (high <= 1)
    else:
        binary, signed = np.ones(p, dtype=bool), np.ones(p, dtype=bool)
    weights = np.bincount(codes, minlength=k)[:k].astype(np.float64)
    return NaiveBayesStats(weights, sums, squares, binary, signed)
