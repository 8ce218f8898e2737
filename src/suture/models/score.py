"""Scoring, one path: contract, features, model, calibration, for batches and records.

Every batch is checked against the bundle's contract first (:class:`~suture.schema.
validator.Validator`): rows that break it are not scored but quarantined with their
reasons.  The valid rows, typed (derived columns included), go through the fitted
:class:`~suture.features.FeaturePipeline`, the model's link scores and the calibrator,
which add:

- ``prediction``: the value (regression) or the predicted class label (as text);
- ``probability`` (binary, of the positive class ``task.classes[1]``) or
  ``probability_<class>`` per class (multiclass), calibrated;
- with ``explain=N``: ``explanation``, the top N input columns by the size of their
  contribution to the link score (the predicted class's logit for multiclass), each with
  its value and the contribution summed over the column's features, and
  ``explanation_base``, the score before any column contributes.

A binary prediction is the positive class when its probability is at least 0.5; a
multiclass prediction is the most probable class (the first of equals).

:class:`RecordScorer` is the same path for one record (the service's): the contract's
record coercion, ``transform_record``, ``score_one`` and ``transform_one``.  Its answers
equal batch scoring exactly.  :func:`score_source` runs the batch path over a whole source
through the engine's ``map_batches``, so it runs on Spark as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    from suture.engines.base import Engine
    from suture.features import FeaturePipeline
    from suture.models.base import Model, Task
    from suture.models.bundle import ModelBundle
    from suture.models.result import Calibrator
    from suture.schema.contract import Schema
    from suture.schema.summary import ValidationSummary
    from suture.schema.validator import Validator

__all__ = [
    "EXPLANATION",
    "EXPLANATION_BASE",
    "PREDICTION",
    "RecordScorer",
    "ScoreFn",
    "Scorer",
    "prediction_names",
    "score_source",
    "score_table",
]

F64 = npt.NDArray[np.float64]
PREDICTION = "prediction"
PROBABILITY = "probability"
EXPLANATION = "explanation"
EXPLANATION_BASE = "explanation_base"
_REASON = pa.struct(
    [("column", pa.string()), ("value", pa.string()), ("contribution", pa.float64())]
)


def prediction_names(task: Task) -> list[str]:
    """The columns scoring adds for ``task`` (without the explanation)."""
    if task.kind == "regression":
        return [PREDICTION]
    if task.kind == "binary":
        return [PREDICTION, PROBABILITY]
    return [PREDICTION, *(f"{PROBABILITY}_{c}" for c in task.classes)]


def prediction_fields(task: Task, explain: int) -> list[pa.Field]:
    """The Arrow fields scoring adds for ``task``."""
    first = pa.float64() if task.kind == "regression" else pa.string()
    fields = [pa.field(PREDICTION, first)]
    fields += [pa.field(name, pa.float64()) for name in prediction_names(task)[1:]]
    if explain:
        fields += [
            pa.field(EXPLANATION, pa.list_(_REASON)),
            pa.field(EXPLANATION_BASE, pa.float64()),
        ]
    return fields


def link_probabilities(scores: F64) -> F64:
    """Probabilities ``(n, k)`` from link scores without a calibrator (sigmoid, softmax)."""
    if scores.ndim == 1:
        positive = np.exp(-np.logaddexp(0.0, -scores))
        return np.column_stack([1.0 - positive, positive])
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def _check_explain(explain: int) -> int:
    if isinstance(explain, bool) or not isinstance(explain, int) or explain < 0:
        raise ConfigError(f"explain must be a whole number of columns, 0 or more, got {explain!r}")
    return explain


class Scorer:
    """The fitted parts of a bundle, applied to typed batches (the batch path's core).

    Parameters
    ----------
    task, pipeline, model, calibrator
        As a :class:`~suture.models.bundle.ModelBundle` holds them.

    Raises
    ------
    ConfigError
        When the model was fitted on other features than the pipeline makes.
    """

    def __init__(
        self,
        task: Task,
        pipeline: FeaturePipeline,
        model: Model,
        calibrator: Calibrator | None,
    ) -> None:
        features = list(model.design_.features)
        if features != list(pipeline.feature_names_):
            raise ConfigError(
                f"the model was fitted on features {features[:5]!r}... but the pipeline makes "
                f"{list(pipeline.feature_names_)[:5]!r}...; they must be the same, in order"
            )
        self.task = task
        self.pipeline = pipeline
        self.model = model
        self.calibrator = calibrator
        self.inputs = list(dict.fromkeys(model.design_.columns))
        # Where each input column's block of features starts (a design keeps the features
        # of one column adjacent), to sum contributions per input column row by row, the
        # same way for one row as for many.
        columns = list(model.design_.columns)
        self._starts = np.array(
            [j for j, c in enumerate(columns) if j == 0 or c != columns[j - 1]], dtype=np.intp
        )
        if len(self._starts) != len(self.inputs):
            raise ConfigError(
                "the model's design interleaves the features of its input columns; the "
                "features of one column must be adjacent"
            )

    def probabilities(self, scores: F64) -> F64:
        """Calibrated ``(n, k)`` probabilities of link scores."""
        if self.calibrator is None:
            return link_probabilities(scores)
        return np.asarray(self.calibrator.transform(scores), dtype=np.float64)

    def columns(self, typed: pa.Table, explain: int = 0) -> list[pa.Array]:
        """The prediction columns (and explanation) for typed valid rows."""
        n = typed.num_rows
        X = self.pipeline.transform(typed)
        scores = self.model.decision_function(X) if n else _empty_scores(self.task)
        out = self._predictions(np.asarray(scores, dtype=np.float64))
        if explain:
            out += self._explanation(typed, X, explain)
        return out

    def _predictions(self, scores: F64) -> list[pa.Array]:
        task = self.task
        if task.kind == "regression":
            return [pa.array(scores.reshape(-1), pa.float64())]
        p = self.probabilities(scores) if len(scores) else np.zeros((0, len(task.classes)))
        labels = pa.array(list(task.classes), pa.string())
        if task.kind == "binary":
            code = (p[:, 1] >= 0.5).astype(np.int64)
            return [labels.take(pa.array(code)), pa.array(p[:, 1], pa.float64())]
        code = np.argmax(p, axis=1) if len(p) else np.zeros(0, dtype=np.int64)
        return [labels.take(pa.array(code)), *(pa.array(p[:, i]) for i in range(p.shape[1]))]

    def per_column(self, X: F64) -> tuple[F64, F64]:
        """Contributions summed per input column ``(n, m)``, and the base values ``(n,)``."""
        contributions, base = self.model.contributions(X)
        c = np.ascontiguousarray(contributions, dtype=np.float64)
        if c.shape[1] == 0:
            return np.zeros((c.shape[0], 0)), np.asarray(base, dtype=np.float64)
        return np.add.reduceat(c, self._starts, axis=1), np.asarray(base, dtype=np.float64)

    def top(self, per_column: F64, explain: int) -> npt.NDArray[np.intp]:
        """The indices of the ``explain`` largest contributions per row, largest first."""
        order = np.argsort(-np.abs(per_column), axis=1, kind="stable")
        return order[:, : min(explain, per_column.shape[1])]

    def _explanation(self, typed: pa.Table, X: F64, explain: int) -> list[pa.Array]:
        n, m = typed.num_rows, len(self.inputs)
        top = min(explain, m)
        if n == 0 or top == 0:
            empty = pa.array([[] for _ in range(n)], pa.list_(_REASON))
            return [empty, pa.array(np.zeros(n), pa.float64())]
        per_column, base = self.per_column(X)
        order = self.top(per_column, top)
        rows = np.repeat(np.arange(n), top)
        picked = order.reshape(-1)
        texts = pa.concat_arrays([_text(typed.column(c)) for c in self.inputs])
        values = texts.take(pa.array(picked * n + rows))
        names = pa.array(self.inputs, pa.string()).take(pa.array(picked))
        amounts = pa.array(per_column[rows, picked], pa.float64())
        reasons = pa.StructArray.from_arrays([names, values, amounts], fields=list(_REASON))
        offsets = pa.array(np.arange(0, n * top + 1, top, dtype=np.int32))
        listed = pa.ListArray.from_arrays(offsets, reasons, type=pa.list_(_REASON))
        return [listed, pa.array(np.asarray(base, dtype=np.float64), pa.float64())]


def _empty_scores(task: Task) -> F64:
    return np.zeros((0, task.n_outputs) if task.kind == "multiclass" else 0)


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column's values as text for explanations (null stays null; a set as ``[a, b]``)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        joined = pc.binary_join(pc.cast(array, pa.list_(pa.string())), ", ")
        return pc.binary_join_element_wise("[", joined, "]", "")
    return pc.cast(array, pa.string())


# -- batches ---------------------------------------------------------------------------


@dataclass
class _Images:
    """What a :class:`ScoreFn` pickles: the bundle's parts as text and JSON values."""

    task: dict[str, Any]
    contract: str
    pipeline: dict[str, Any]
    model: dict[str, Any]
    calibrator: dict[str, Any] | None


class ScoreFn:
    """The map function of scoring: ``fn(batch, first_row)`` to named outputs.

    Outputs ``scored`` (valid rows, typed, with predictions), ``quarantine`` (the rows
    that broke the contract, with reasons) and ``summary`` (one row of counts, the
    layout of :data:`suture.schema.run.SUMMARY_SCHEMA`).

    Notes
    -----
    Pure and thread-safe.  It pickles as the bundle's JSON and TOML images (no fitted
    object crosses to a Spark executor) and rebuilds the parts there on first use.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        origin: str = "the data",
        *,
        explain: int = 0,
        line_offset: int | None = None,
        outputs: tuple[str, ...] = ("scored", "quarantine", "summary"),
        strict: bool = False,
    ) -> None:
        self.origin = origin
        self.strict = strict
        self.explain = _check_explain(explain)
        self.line_offset = line_offset
        self.outputs = outputs
        self._install(
            bundle.task, bundle.scoring_contract, bundle.pipeline, bundle.model, bundle.calibrator
        )

    def _install(
        self,
        task: Task,
        contract: Schema,
        pipeline: FeaturePipeline,
        model: Model,
        calibrator: Calibrator | None,
    ) -> None:
        self.task = task
        self.contract = contract
        self.scorer = Scorer(task, pipeline, model, calibrator)
        self._validators: dict[pa.Schema, Validator] = {}

    def __getstate__(self) -> dict[str, Any]:
        s = self.scorer
        images = _Images(
            self.task.to_dict(),
            self.contract.dumps(),
            s.pipeline.to_dict(),
            s.model.to_dict(),
            None if s.calibrator is None else s.calibrator.to_dict(),
        )
        return {
            "origin": self.origin,
            "explain": self.explain,
            "line_offset": self.line_offset,
            "outputs": self.outputs,
            "strict": self.strict,
            "images": images,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        from suture.features import FeaturePipeline
        from suture.models.base import Task, model_from_dict
        from suture.models.bundle import _calibrator
        from suture.schema.contract import Schema

        images: _Images = state.pop("images")
        self.__dict__.update(state)
        self._install(
            Task.from_dict(images.task),
            Schema.loads(images.contract, "contract.toml"),
            FeaturePipeline.from_dict(images.pipeline),
            model_from_dict(images.model),
            _calibrator(images.calibrator),
        )

    def validator(self, input_schema: pa.Schema) -> Validator:
        """The contract compiled for batches of ``input_schema``."""
        found = self._validators.get(input_schema)
        if found is None:
            found = self.contract.validator(input_schema, self.origin, line_offset=self.line_offset)
            self._validators[input_schema] = found
        return found

    def output_schemas(self, input_schema: pa.Schema) -> dict[str, pa.Schema]:
        """The schema of each output for batches of ``input_schema``."""
        from suture.schema.run import SUMMARY_SCHEMA

        validator = self.validator(input_schema)
        scored = validator.valid_schema()
        for f in prediction_fields(self.task, self.explain):
            scored = scored.append(f)
        every = {
            "scored": scored,
            "quarantine": validator.quarantine_schema,
            "summary": SUMMARY_SCHEMA,
        }
        return {name: every[name] for name in self.outputs}

    def __call__(self, batch: pa.RecordBatch, first_row: int = 0) -> dict[str, pa.RecordBatch]:
        from suture.schema.run import summary_batch

        _clashes(batch.schema, self.task, self.explain)
        checked = self.validator(batch.schema).check(batch, first_row)
        if self.strict and checked.quarantine.num_rows:
            raise _broken(checked.examples)
        out: dict[str, pa.RecordBatch] = {}
        if "scored" in self.outputs:
            valid = checked.valid
            columns = self.scorer.columns(valid, self.explain)
            names = prediction_fields(self.task, self.explain)
            table = valid
            for f, column in zip(names, columns, strict=True):
                table = table.append_column(f, column)
            out["scored"] = _one_batch(table)
        if "quarantine" in self.outputs:
            out["quarantine"] = checked.quarantine
        if "summary" in self.outputs:
            out["summary"] = summary_batch(checked)
        return out


def _broken(examples: Mapping[tuple[str, str], str]) -> SchemaError:
    """The refusal of a strict scoring: the first broken rule's example, and the fix."""
    (column, _), example = min(examples.items(), key=lambda item: _row_of(item[1]))
    return SchemaError(
        f"{example} in column {column!r}: the row breaks the model's contract, so nothing was "
        "scored; fix the data, or pass --quarantine FILE to score the other rows and keep the "
        "broken ones with their reasons"
    )


def _row_of(example: str) -> int:
    place = example.split(":", 1)[0].rsplit(" ", 1)[-1]
    return int(place) if place.isdigit() else 0


def _clashes(schema: pa.Schema, task: Task, explain: int) -> None:
    """Refuse input that already has a column scoring would add."""
    taken = [f.name for f in prediction_fields(task, explain) if f.name in schema.names]
    if taken:
        raise ConfigError(
            f"the data already has column {', '.join(map(repr, taken))}, which scoring adds; "
            "rename or drop it before scoring"
        )


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    if len(batches) == 1:
        return batches[0]
    return pa.RecordBatch.from_pylist([], schema=table.schema)


def score_table(
    bundle: ModelBundle, data: pa.Table | pa.RecordBatch, *, explain: int = 0
) -> tuple[pa.Table, pa.Table]:
    """Score an in-memory table: the scored valid rows and the quarantined rows.

    See :meth:`suture.models.bundle.ModelBundle.score_split`.
    """
    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    if not isinstance(table, pa.Table):
        raise ConfigError(
            f"score takes a pyarrow Table or RecordBatch, got {type(data).__name__}; use "
            "score_source for files and Spark DataFrames"
        )
    fn = ScoreFn(bundle, explain=explain, outputs=("scored", "quarantine"))
    batch = table.combine_chunks().to_batches()
    one = batch[0] if batch else pa.RecordBatch.from_pylist([], schema=table.schema)
    done = fn(one, 0)
    return pa.Table.from_batches([done["scored"]]), pa.Table.from_batches([done["quarantine"]])


@dataclass(frozen=True)
class ScoreSummary:
    """What a whole-source scoring did: rows read, scored and quarantined, and why.

    ``validation`` holds the counts per broken rule and one example message each.
    """

    rows: int
    scored: int
    quarantined: int
    validation: ValidationSummary


def score_source(
    bundle: ModelBundle,
    source: Any,
    output: str | os.PathLike[str],
    *,
    explain: int = 0,
    quarantine: str | os.PathLike[str] | None = None,
    engine: str | Engine | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score a whole source through the engine's ``map_batches``; write Parquet.

    Parameters
    ----------
    bundle : ModelBundle
    source : path, table or DataFrame
        Anything the engine reads.
    output : path
        Where the scored rows go: a Parquet file locally, a Parquet folder on Spark.
    explain : int
        Add the top ``explain`` contributions per row (see the module notes).
    quarantine : path, optional
        Where the rows that broke the contract go, with their reasons (written even when
        empty).  Without it a row that breaks the contract stops the scoring and nothing
        is written (a :class:`~suture.errors.SchemaError` names the row and the rule).
    engine : {"local", "spark"}, Engine or None
        Where to run (:func:`suture.engines.resolve_engine`).
    progress : callable, optional
        Called with the number of input rows done.

    Returns
    -------
    ScoreSummary

    Notes
    -----
    The outputs are replaced together when the pass ends, or neither is (any failure,
    a read error late in the source included).
    """
    from suture.engines import is_spark_frame, resolve_engine
    from suture.schema.run import ValidationCounts
    from suture.sources import csv_line_offset

    runner = resolve_engine(engine, source)
    input_schema = runner.schema_of(source)
    if isinstance(source, str | os.PathLike):
        origin = str(source)
        line_offset = csv_line_offset(Path(source)) if Path(source).is_file() else None
    else:
        origin = "the Spark DataFrame" if is_spark_frame(source) else "the data"
        line_offset = None
    wanted: tuple[str, ...] = ("scored", "summary")
    if quarantine is not None:
        wanted += ("quarantine",)
    fn = ScoreFn(
        bundle,
        origin,
        explain=explain,
        line_offset=line_offset,
        outputs=wanted,
        strict=quarantine is None,
    )
    _clashes(input_schema, bundle.task, fn.explain)
    sinks: dict[str, str | Path | None] = {"scored": Path(output)}
    if quarantine is not None:
        sinks["quarantine"] = Path(quarantine)
    done = runner.map_batches(
        source,
        fn,
        schema=fn.output_schemas(input_schema),
        sink=sinks,
        aggregators={"summary": ValidationCounts()},
        progress=progress,
    )
    summary: ValidationSummary = done["summary"]
    return ScoreSummary(summary.rows, summary.valid, summary.quarantined, summary)


# -- one record -------------------------------------------------------------------------


class RecordScorer:
    """One record (a dict) scored as a batch row would be, for the service's hot path.

    ``scorer(record)`` coerces the record with the contract's record path, transforms it
    with ``transform_record``, scores it with ``score_one`` and calibrates it with
    ``transform_one``: no pandas, scikit-learn or Arrow per record.  ``scorer(record,
    explain=N)`` adds ``explanation`` and ``explanation_base`` as batch scoring does, with
    each column's coerced value (a Python value) instead of its text.

    Raises
    ------
    RecordError
        When the record breaks the contract (the field, what was expected, the fix).
    """

    def __init__(self, bundle: ModelBundle) -> None:
        from suture.schema.coerce import compile_record

        self.scorer = Scorer(bundle.task, bundle.pipeline, bundle.model, bundle.calibrator)
        self.task = bundle.task
        self._coerce = compile_record(bundle.scoring_contract)
        self._features = bundle.pipeline.transform_record
        self._score = bundle.model.score_one
        calibrator = bundle.calibrator
        self._calibrate: Callable[[F64], F64]
        if calibrator is not None:
            self._calibrate = calibrator.transform_one
        elif bundle.task.kind == "binary":
            self._calibrate = lambda s: link_probabilities(s)[0]
        else:
            self._calibrate = lambda s: link_probabilities(s.reshape(1, -1))[0]
        self._classes = bundle.task.classes
        self._names = prediction_names(bundle.task)[1:]
        self._kind = bundle.task.kind

    def __call__(self, record: Mapping[str, Any], explain: int = 0) -> dict[str, Any]:
        coerced = self._coerce(record)
        x = self._features(coerced)
        out = self._answer(self._score(x))
        if explain:
            out.update(self._explain(coerced, x, _check_explain(explain)))
        return out

    def _answer(self, scores: F64) -> dict[str, Any]:
        if self._kind == "regression":
            return {PREDICTION: float(scores[0])}
        p = self._calibrate(scores)
        if self._kind == "binary":
            positive = float(p[1])
            return {PREDICTION: self._classes[int(positive >= 0.5)], PROBABILITY: positive}
        out: dict[str, Any] = {PREDICTION: self._classes[int(np.argmax(p))]}
        out.update(zip(self._names, map(float, p), strict=True))
        return out

    def _explain(self, coerced: Mapping[str, Any], x: F64, explain: int) -> dict[str, Any]:
        """The top ``explain`` input columns of one record, as batch scoring gives them
        (the value is the coerced Python value, not its text)."""
        per_column, base = self.scorer.per_column(x.reshape(1, -1))
        inputs = self.scorer.inputs
        reasons = [
            {
                "column": inputs[j],
                "value": coerced.get(inputs[j]),
                "contribution": float(per_column[0, j]),
            }
            for j in self.scorer.top(per_column, explain)[0].tolist()
        ]
        return {EXPLANATION: reasons, EXPLANATION_BASE: float(base[0])}
