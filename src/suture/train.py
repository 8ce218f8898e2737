"""``suture.train``: from a table to a bundle, through the contract, winnowing and candidates.

The stages, each one object's job:

1. **Contract.**  The rows are checked against the contract (given, or inferred from a
   first profile); rows that break it are quarantined with reasons, never trained on, and
   counted.  Rows without a target are left out and counted too.
2. **Split.**  A holdout the models never see (time-ordered when a time column is given);
   everything after this uses the training rows only.
3. **Summaries.**  One pass over the training rows gives the profile and the
   target-conditional summaries (:func:`suture.features.target.profile_with_target`).
4. **Winnowing.**  Every column gets a decision with its reason and number
   (:func:`suture.features.winnow.winnow`).
5. **Candidates**, simplest first, each on features fitted from the profile: a baseline,
   naive Bayes, regularized linear or logistic regression, an additive scorecard, the
   scorecard with a few interactions, a shallow tree and LightGBM as the yardstick.  Each
   is cross-validated on the training rows (out-of-fold scores), calibrated from its
   out-of-fold scores, refitted on the training rows and evaluated on the holdout.
6. **Selection.**  The simplest candidate within tolerance of the best cross-validated
   score wins (:func:`suture.models.select.select`); it is then refitted on every row,
   the holdout's included (its holdout figures are those of the fit without them).
7. **Bundle.**  Contract, training profile, features, model, calibrator, metrics,
   winnowing decisions, robustness bounds and lineage (:class:`~suture.models.bundle.ModelBundle`).

The matrices of one training run live in memory (float64, rows x features); above
``max_fit_rows`` training rows the candidates are compared on a seeded sample (the
lineage says so); only the winner is refitted on every row.  A source known to have more
than ``hybrid_rows`` rows takes the hybrid path by default
(:func:`suture.models.streaming.train_hybrid`): the rows are read by engine passes and
only bounded samples are held, so memory stays flat.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from suture.errors import ConfigError, EmptyInputError, SchemaError
from suture.models.base import Design, Model, Task, TaskKind, encode_target
from suture.models.result import Candidate, Decision, Evaluation, TrainResult

if TYPE_CHECKING:
    from suture.features import FeaturePipeline
    from suture.models.bundle import ModelBundle
    from suture.profile import Profile
    from suture.schema.contract import Schema

__all__ = ["CANDIDATES", "TrainOptions", "train"]

F64 = npt.NDArray[np.float64]
Progress = Callable[[str, str], None]
Folds = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]

#: The penalties logistic regression chooses from on each fit's rows (binary targets), by
#: approximate leave-one-out log loss: one fixed penalty suits few tables (in
#: cross-validation on the training rows modeldata/lending_club wanted 30, credit_data 1).
LOGISTIC_ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
#: Above this many rows compared on, the penalty (against a sum over the rows) matters
#: little and its search cost most (seven fits: 1.5 -> 6 s of CPU per fit on 50,000 rows
#: x 141 features), so logistic regression keeps the penalty 1.
LOGISTIC_SEARCH_ROWS = 20_000

#: The ridge penalties the additive scorecard chooses from on each fit's rows (binary
#: targets), by approximate leave-one-out log loss as logistic regression does: its old
#: fixed 10 was too strong for most tables (cross-validated AUC on the training rows of
#: modeldata/attrition 0.846 with 10, 0.851 with 3; credit_data 0.849 and 0.854).
SCORECARD_ALPHAS = (1.0, 3.0, 10.0, 30.0)

#: The candidate whose cross-validated score decides whether the columns winnowing
#: screened out as uninformative on their own are kept after all (they can matter
#: together, or beside the others): cheap, and nonlinear in every column.
SCREEN_JUDGE = "scorecard"

#: The candidates in order of simplicity: name, feature style, the task kinds it fits.
CANDIDATES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("baseline", "linear", frozenset({"binary", "multiclass", "regression"})),
    ("naive_bayes", "binned", frozenset({"binary", "multiclass"})),
    ("logistic", "linear", frozenset({"binary", "multiclass"})),
    ("linear", "linear", frozenset({"regression"})),
    ("scorecard", "binned", frozenset({"binary", "multiclass", "regression"})),
    ("scorecard_interactions", "binned", frozenset({"binary", "multiclass", "regression"})),
    ("tree", "raw", frozenset({"binary", "multiclass", "regression"})),
    ("lightgbm", "raw", frozenset({"binary", "multiclass", "regression"})),
)
CANDIDATE_NAMES = tuple(name for name, _, _ in CANDIDATES)

#: Above this many rows in the source (known from its metadata) the default training
#: run is the hybrid one (:func:`suture.models.streaming.train_hybrid`): flat memory.
HYBRID_ROWS = 500_000


@dataclass(frozen=True)
class TrainOptions:
    """The settings of one training run, recorded in the bundle's lineage."""

    target: str
    time_column: str | None = None
    positive: str | None = None
    task: TaskKind | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    tolerance: float | None = None
    seed: int = 0
    folds: int = 5
    test_size: float = 0.2
    candidates: tuple[str, ...] = CANDIDATE_NAMES
    max_fit_rows: int = 50_000
    monotone: tuple[tuple[str, int], ...] = ()

    def check(self) -> None:
        """Refuse settings that make no sense, with one sentence each."""
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"the seed must be a whole number of at least 0, got {self.seed!r}")
        if not isinstance(self.folds, int) or isinstance(self.folds, bool) or self.folds < 2:
            raise ConfigError(f"folds must be a whole number of at least 2, got {self.folds!r}")
        if not 0.0 < float(self.test_size) < 1.0:
            raise ConfigError(f"test_size must be between 0 and 1, got {self.test_size!r}")
        if self.tolerance is not None and not float(self.tolerance) >= 0.0:
            raise ConfigError(f"the tolerance must be 0 or more, got {self.tolerance!r}")
        unknown = [c for c in self.candidates if c not in CANDIDATE_NAMES]
        if unknown:
            raise ConfigError(
                f"unknown candidate {', '.join(map(repr, unknown))}; candidates are "
                f"{', '.join(CANDIDATE_NAMES)}"
            )
        if self.max_fit_rows < 1000:
            raise ConfigError(f"max_fit_rows must be at least 1000, got {self.max_fit_rows!r}")
        twice = sorted(set(self.include) & set(self.exclude))
        if twice:
            raise ConfigError(
                f"{', '.join(map(repr, twice))} is both included and excluded; choose one"
            )
        for where, names in (("included", self.include), ("excluded", self.exclude)):
            if self.target in names and where == "included":
                raise ConfigError(f"the target {self.target!r} cannot also be a feature")
        if self.time_column is not None and self.time_column == self.target:
            raise ConfigError(f"the time column cannot be the target {self.target!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON image for the lineage."""
        out = dict(vars(self))
        out["include"] = list(self.include)
        out["exclude"] = list(self.exclude)
        out["candidates"] = list(self.candidates)
        out["monotone"] = dict(self.monotone)
        return out


def _say(progress: Progress | None, stage: str, message: str) -> None:
    if progress is not None:
        progress(stage, message)


# -- stage 1: read and check the rows --------------------------------------------------


@dataclass
class _Rows:
    table: pa.Table
    contract: Schema
    read: int
    quarantined: int
    no_target: int
    quarantine: Any


def _load_contract(schema: Any) -> Schema | None:
    from suture.schema.contract import Schema

    if schema is None or isinstance(schema, Schema):
        return schema
    return Schema.load(schema)


def _check_columns(names: Sequence[str], options: TrainOptions, origin: str) -> None:
    missing = [
        c
        for c in [options.target, *options.include, *options.exclude, options.time_column]
        if c is not None and c not in names
    ]
    if missing:
        raise SchemaError(
            f"{origin} has no column {', '.join(map(repr, missing))}; columns are: "
            f"{', '.join(names)}"
        )


def _read_rows(
    source: Any, contract: Schema | None, options: TrainOptions, engine: Any, progress: Any
) -> _Rows:
    import suture
    from suture.engines import resolve_engine
    from suture.schema.contract import Schema

    runner = resolve_engine(engine, source)
    if runner.name != "local":  # train() sends other engines to the streaming path
        raise ConfigError(
            f"in-memory training runs on the local engine, not {runner.name}; "
            "train with streaming=True (suture.models.streaming) on other engines"
        )
    schema = runner.schema_of(source)
    origin = runner.describe(source)
    _check_columns(schema.names, options, origin)
    if contract is None:
        _say(progress, "contract", "inferring a contract from a first profile")
        contract = Schema.infer(suture.profile(source, engine=runner))
    _say(progress, "contract", "checking the rows against the contract")
    result = contract.validate(source, engine=runner)
    table = result.valid
    quarantined = int(result.summary.quarantined)
    read = int(result.summary.rows)
    if options.target not in table.column_names:
        raise SchemaError(f"the contract has no column {options.target!r}, the target")
    has_target = pc.is_valid(table[options.target])
    if pa.types.is_floating(table[options.target].type):
        has_target = pc.and_(has_target, pc.invert(pc.is_nan(table[options.target])))
    no_target = table.num_rows - int(pc.sum(has_target).as_py() or 0)
    if no_target:
        table = table.filter(has_target)
    if table.num_rows == 0:
        raise EmptyInputError(
            f"{origin}: no row is left to train on ({read} read, {quarantined} broke the "
            f"contract, {no_target} had no target)"
        )
    return _Rows(table, contract, read, quarantined, no_target, result.quarantine)


# -- stage 2-4: split, summaries, winnowing -------------------------------------------


def _time_values(table: pa.Table, column: str | None) -> F64 | None:
    if column is None:
        return None
    values = table[column]
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        values = pc.cast(values, pa.timestamp("us")) if pa.types.is_date(values.type) else values
        values = pc.cast(values, pa.int64())
    try:
        out = np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise SchemaError(
            f"the time column {column!r} is {values.type}: it must be a timestamp, a date or "
            "a number"
        ) from None
    if np.isnan(out).any():
        raise SchemaError(f"the time column {column!r} has missing values; fill or drop them")
    return out.astype(np.float64)


def _infer(table: pa.Table, options: TrainOptions) -> Task:
    import suture
    from suture.models.task import infer_task

    summary = suture.profile(table.select([options.target]))[options.target]
    return infer_task(summary, kind=options.task, positive=options.positive)


# -- stage 5: candidates ---------------------------------------------------------------


def _new_model(
    name: str, task: Task, pipeline: FeaturePipeline, seed: int, rows: int = 0, search: bool = True
) -> Model:
    """An unfitted candidate of ``name`` for ``task``, to be compared on ``rows`` rows
    (``search=False``: the scorecard keeps its fixed penalty)."""
    if name == "baseline":
        from suture.models.baseline import Baseline

        return Baseline()
    if name == "naive_bayes":
        from suture.models.naive_bayes import NaiveBayes

        return NaiveBayes()
    if name == "logistic":
        from suture.models.linear import Logistic

        return Logistic(alphas=list(LOGISTIC_ALPHAS) if rows <= LOGISTIC_SEARCH_ROWS else None)
    if name == "linear":
        from suture.models.linear import Ridge

        return Ridge()
    if name == "scorecard":
        from suture.models.additive import Scorecard

        search = search and rows <= LOGISTIC_SEARCH_ROWS
        return Scorecard(alphas=list(SCORECARD_ALPHAS) if search else None)
    if name == "scorecard_interactions":
        from suture.models.additive import ScorecardInteractions

        return ScorecardInteractions()
    if name == "tree":
        from suture.models.tree import DecisionTree

        return DecisionTree(seed=seed)
    from suture.models.gbm import GradientBoosting

    categorical = tuple(int(i) for i in getattr(pipeline, "categorical_features_", ()))
    # One thread: OpenMP workers spin while they wait, and on a shared or small machine
    # two threads made each fit ten times slower (measured on 2 cores under load).
    # LightGBM's own default rate (0.1): half the rounds of 0.05 for the same early stop.
    return GradientBoosting(categorical=categorical, seed=seed, num_threads=1, learning_rate=0.1)


def _pipeline(style: str) -> FeaturePipeline:
    """The unfitted feature pipeline of a candidate's style.

    In the linear style a number of values of at least 0 (not logged already) also gets
    its standardized ``log1p`` (:class:`~suture.features.transforms.Standardize`
    ``companion``), so logistic and linear regression can bend each number's effect: in
    cross-validation on the training rows of ``benchmarks/train_bench.py`` logistic
    regression's AUC rose on mlc_churn 0.828 -> 0.853, attrition 0.844 -> 0.853 and
    wa_churn 0.841 -> 0.845, and fell on HMDA 0.809 -> 0.805.
    """
    from suture.features import FeaturePipeline
    from suture.features.transforms import Standardize

    if style == "linear":
        return FeaturePipeline(style=style, numeric=Standardize(companion=True))
    return FeaturePipeline(style=style)


@dataclass
class _Matrices:
    pipeline: FeaturePipeline
    design: Design
    fit: F64
    holdout: F64


def _matrices(
    style: str,
    profile: Profile,
    kept: list[str],
    task: Task,
    options: TrainOptions,
    fit_rows: pa.Table,
    holdout: pa.Table,
) -> _Matrices:
    pipeline = _pipeline(style).fit(profile, kept)
    monotone = dict(options.monotone) if style == "binned" else None
    design = pipeline.design(task, monotone=monotone)
    return _Matrices(pipeline, design, pipeline.transform(fit_rows), pipeline.transform(holdout))


def _output(task: Task, proba_or_scores: F64) -> F64:
    """What :func:`~suture.models.evaluate.evaluate` takes: P(positive), probabilities, values."""
    if task.kind == "binary":
        return np.asarray(proba_or_scores[:, 1], dtype=np.float64)
    return proba_or_scores


def _fit_candidate(
    name: str,
    m: _Matrices,
    task: Task,
    y: F64,
    y_holdout: F64,
    folds: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    options: TrainOptions,
    baseline: Evaluation | None,
) -> tuple[Candidate, F64]:
    """Cross-validate, calibrate, refit and evaluate one candidate; return it and its OOF scores."""
    from suture.models.calibrate import fit_calibrator
    from suture.models.evaluate import evaluate, oof_scores, summarize_folds

    started = time.perf_counter()
    model = _new_model(name, task, m.pipeline, options.seed, rows=m.fit.shape[0])
    oof, fold_evals = oof_scores(model, m.fit, y, m.design, folds)
    cv = summarize_folds(fold_evals)
    calibrator = fit_calibrator(task, oof, y) if task.is_classification else None
    model.fit(m.fit, y, design=m.design)
    scores = model.decision_function(m.holdout)
    out = scores if calibrator is None else _output(task, calibrator.transform(scores))
    # 200 bootstrap resamples of a large holdout cost seconds per candidate; past 50,000
    # rows the interval is narrow and 50 resamples place it well enough.
    n_boot = 200 if y_holdout.size <= 50_000 else 50
    holdout = evaluate(task, y_holdout, out, n_boot=n_boot, seed=options.seed, baseline=baseline)
    seconds = time.perf_counter() - started
    candidate = Candidate(
        name, model, m.pipeline, cv, holdout, seconds, model.get_params(), calibrator
    )
    return candidate, oof


# -- the whole run ---------------------------------------------------------------------


def train(
    source: Any,
    target: str,
    *,
    schema: Any = None,
    time_column: str | None = None,
    positive: str | None = None,
    task: TaskKind | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tolerance: float | None = None,
    seed: int = 0,
    engine: Any = None,
    output: str | Path | None = None,
    progress: Progress | None = None,
    candidates: Sequence[str] | None = None,
    folds: int = 5,
    test_size: float = 0.2,
    max_fit_rows: int = 50_000,
    monotone: dict[str, int] | None = None,
    streaming: bool | None = None,
    hybrid_rows: int = HYBRID_ROWS,
) -> ModelBundle:
    """Train the simplest good model for ``target`` and return (and write) its bundle.

    Parameters
    ----------
    source : path, pyarrow Table, pandas or polars DataFrame
        The training data (read by the local engine).
    target : str
        The column to predict.
    schema : path or Schema, optional
        The contract the rows must keep; inferred from a first profile when omitted.
    time_column : str, optional
        Makes the holdout the latest rows by this column, and cross-validation forward in
        time.
    positive : str, optional
        The positive class of a binary target (default: ``true``/``yes``/``1``, else the
        rarer class).
    task : {"binary", "multiclass", "regression"}, optional
        Force the task (default: inferred from the target).
    include, exclude : sequence of str
        Columns forced in (beating every automatic winnowing drop) or out.
    tolerance : float, optional
        Selection tolerance: the simplest candidate within this of the best wins (default
        0.005 AUC, or 1% relative RMSE).
    seed : int, default 0
        Seeds every random choice: the same data and seed give the same bundle.
    engine : {"local"} or engine, optional
    output : path, optional
        Where to write the bundle (a folder, written atomically).
    progress : callable, optional
        Called with ``(stage, message)`` as each stage starts.
    candidates : sequence of str, optional
        Which candidates to fit (default all that fit the task; see :data:`CANDIDATES`).
    folds : int, default 5
        Cross-validation folds on the training rows.
    test_size : float, default 0.2
        The holdout's share of the rows.
    max_fit_rows : int, default 50000
        Above this many training rows the candidates are compared on a seeded sample of
        this size and the winner is refitted on every training row.
    monotone : dict of str to int, optional
        Declared monotone direction (1 or -1) per input column, for the scorecards.
    streaming : bool, optional
        ``True``: train from engine passes without holding the rows (flat memory): a
        hash-split holdout and only the candidates that fit from aggregators
        (:func:`suture.models.streaming.train_streaming`); always so on Spark.
        ``False``: hold the rows in memory, whatever their number.  Default (None): in
        memory, unless the source says without reading it (Parquet metadata, an
        in-memory table) that it has more than ``hybrid_rows`` rows and no
        ``time_column`` is given: then the hybrid path
        (:func:`suture.models.streaming.train_hybrid`) holds only bounded samples:
        streamed profile and hash-split holdout, every candidate compared on a sample
        of ``max_fit_rows`` training rows, the winner refitted on every training row
        when it fits from aggregators, and measured on the whole holdout.
    hybrid_rows : int, default 500000
        Above this many rows in the source the default is the hybrid path.

    Returns
    -------
    ModelBundle

    Raises
    ------
    ConfigError, SchemaError, EmptyInputError, SourceError
        For settings, a target or data that cannot be trained on, each in one sentence.
    """
    options = TrainOptions(
        target=target,
        time_column=time_column,
        positive=positive,
        task=task,
        include=tuple(include),
        exclude=tuple(exclude),
        tolerance=tolerance,
        seed=seed,
        folds=folds,
        test_size=test_size,
        candidates=tuple(CANDIDATE_NAMES if candidates is None else candidates),
        max_fit_rows=max_fit_rows,
        monotone=tuple(sorted((monotone or {}).items())),
    )
    options.check()
    if output is not None:
        from suture.bundle import check_output

        check_output(Path(output), folder=True)
    from suture.engines import resolve_engine

    runner = resolve_engine(engine, source)
    if streaming is None and _hybrid(source, runner, options, hybrid_rows):
        from suture.models.streaming import train_hybrid

        with _one_blas_thread():
            hybrid: ModelBundle | None = train_hybrid(
                source, options, _load_contract(schema), runner, progress
            )
        if hybrid is not None:
            if output is not None:
                _say(progress, "bundle", f"writing {output}")
                hybrid.write(output)
            return hybrid
        _say(progress, "split", "a multiclass target: training in memory")
    if streaming or runner.name != "local":
        from suture.models.streaming import train_streaming

        bundle: ModelBundle = train_streaming(
            source, options, _load_contract(schema), runner, progress
        )
        if output is not None:
            _say(progress, "bundle", f"writing {output}")
            bundle.write(output)
        return bundle
    rows = _read_rows(source, _load_contract(schema), options, runner, progress)
    run = _Run(options, rows, _infer(rows.table, options), progress)
    with _one_blas_thread():
        bundle = run.bundle()
    if output is not None:
        _say(progress, "bundle", f"writing {output}")
        bundle.write(output)
    return bundle


def _hybrid(source: Any, runner: Any, options: TrainOptions, hybrid_rows: int) -> bool:
    """Whether the default run takes the hybrid path: a local source known, without
    reading it, to have more than ``hybrid_rows`` rows, and no time column."""
    if runner.name != "local" or options.time_column is not None:
        return False
    opened = getattr(runner, "open", None)
    if opened is None:
        return False
    rows = opened(source).num_rows
    return rows is not None and int(rows) > hybrid_rows


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run the fits with one BLAS thread.

    The matrices of a fit are small enough that a second BLAS thread mostly waits, and on
    a shared machine its spinning made logistic regression ten times slower (measured on
    mlc_churn, 2 cores: 0.04 s against 0.48 s; the whole run 4.2 s against 9.1 s).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass
class _Compared:
    """The candidates compared and the winner chosen (not yet refitted)."""

    profile: Profile
    decisions: list[Decision]
    results: list[Candidate]
    winner: str
    given_up: Any

    @property
    def chosen(self) -> Candidate:
        """The winner's candidate."""
        return next(c for c in self.results if c.name == self.winner)


class _Run:
    """One training run after the rows are read: split, summaries, candidates, bundle."""

    def __init__(
        self, options: TrainOptions, rows: _Rows, task: Task, progress: Progress | None
    ) -> None:
        from suture.models.split import holdout_split

        self.options, self.rows, self.task, self.progress = options, rows, task, progress
        if options.monotone and task.kind == "multiclass":
            raise ConfigError(
                "monotone columns apply to binary and regression targets; "
                f"{options.target!r} has {len(task.classes)} classes"
            )
        table = rows.table
        _say(progress, "split", f"{task.kind} task; holding out {options.test_size:.0%}")
        y = encode_target(table[options.target], task)
        self.when = _time_values(table, options.time_column)
        self.train_idx, test_idx = holdout_split(
            table.num_rows,
            task=task,
            y=y,
            time=self.when,
            test_size=options.test_size,
            seed=options.seed,
        )
        self.train_rows = table.take(pa.array(self.train_idx))
        self.holdout_rows = table.take(pa.array(test_idx))
        self.y_all = y
        self.y_train, self.y_holdout = y[self.train_idx], y[test_idx]
        self.fit_idx = _fit_sample(self.train_rows.num_rows, options)

    def _summaries(self) -> tuple[Profile, list[Decision]]:
        from suture.features.target import profile_with_target
        from suture.features.winnow import winnow

        n = self.train_rows.num_rows
        _say(self.progress, "profile", f"profiling {n} training rows with the target")
        profile, summaries = profile_with_target(self.train_rows, self.task)
        _say(self.progress, "winnow", "choosing the columns")
        time_column = () if self.options.time_column is None else (self.options.time_column,)
        decisions = winnow(
            profile,
            summaries,
            self.task,
            contract=self.rows.contract,
            include=self.options.include,
            exclude=(*self.options.exclude, *time_column),
        )
        return profile, decisions

    def _fit_rows(self) -> tuple[pa.Table, F64, Folds]:
        """The rows the candidates are compared on, their targets and the folds."""
        from suture.models.split import kfold

        options = self.options
        fit_rows, y_fit, when = self.train_rows, self.y_train, self.when
        when = None if when is None else when[self.train_idx]
        if self.fit_idx is not None:
            fit_rows, y_fit = fit_rows.take(pa.array(self.fit_idx)), y_fit[self.fit_idx]
            when = None if when is None else when[self.fit_idx]
        folds = kfold(
            fit_rows.num_rows, options.folds, task=self.task, y=y_fit, seed=options.seed, time=when
        )
        return fit_rows, y_fit, folds

    def _recheck_screened(
        self, profile: Profile, decisions: list[Decision], rows: tuple[pa.Table, F64, Folds]
    ) -> list[Decision]:
        """Keep the columns screened out as uninformative on their own when, together, they
        improve the cross-validated score of :data:`SCREEN_JUDGE` on the training rows."""
        target = self.options.target
        screened = [d for d in decisions if not d.keep and d.reason == "no_information"]
        if not screened or SCREEN_JUDGE not in self.options.candidates:
            return decisions
        kept = [d.column for d in decisions if d.keep and d.column != target]
        if not kept:  # nothing to add them to: training stops with the winnowing's reasons
            return decisions
        wider = [d.column for d in decisions if (d.keep or d in screened) and d.column != target]
        without = self._judge(profile, kept, rows)
        with_them = self._judge(profile, wider, rows)
        better = with_them > without if self.task.is_classification else with_them < without
        if not (math.isfinite(with_them) and better):
            return decisions
        primary = "AUC" if self.task.is_classification else "RMSE"
        told = (
            f"kept: alone it looked uninformative ({{was}}), but the {SCREEN_JUDGE}'s "
            f"cross-validated {primary} on the training rows is {with_them:.4g} with the "
            f"{len(screened)} such columns and {without:.4g} without them"
        )
        return [
            replace(d, keep=True, message=told.format(was=d.message.removeprefix("dropped: ")))
            if d in screened
            else d
            for d in decisions
        ]

    def _judge(
        self, profile: Profile, columns: list[str], rows: tuple[pa.Table, F64, Folds]
    ) -> float:
        """The cross-validated primary metric of :data:`SCREEN_JUDGE` on ``columns``."""
        from suture.features import FeaturePipeline
        from suture.models.evaluate import PRIMARY, oof_scores, summarize_folds

        fit_rows, y_fit, folds = rows
        pipeline = FeaturePipeline(style="binned").fit(profile, columns)
        design = pipeline.design(self.task, monotone=dict(self.options.monotone))
        # The judge keeps the scorecard's fixed penalty: its penalty search is four fits
        # for each of the ten here (half of lending_club's training time for no change).
        model = _new_model(SCREEN_JUDGE, self.task, pipeline, self.options.seed, search=False)
        _, fold_evals = oof_scores(model, pipeline.transform(fit_rows), y_fit, design, folds)
        return summarize_folds(fold_evals).metrics[PRIMARY[self.task.kind]].value

    def _candidates(
        self, profile: Profile, kept: list[str], rows: tuple[pa.Table, F64, Folds]
    ) -> list[Candidate]:
        options, task = self.options, self.task
        fit_rows, y_fit, folds = rows
        styles: dict[str, _Matrices] = {}
        results: list[Candidate] = []
        baseline: Evaluation | None = None
        for name, style, kinds in CANDIDATES:
            if name not in options.candidates or task.kind not in kinds:
                continue
            _say(self.progress, "fit", f"fitting {name}")
            if style not in styles:
                styles[style] = _matrices(
                    style, profile, kept, task, options, fit_rows, self.holdout_rows
                )
            candidate, _ = _fit_candidate(
                name, styles[style], task, y_fit, self.y_holdout, folds, options, baseline
            )
            baseline = candidate.holdout if name == "baseline" else baseline
            results.append(candidate)
        if not results:
            raise ConfigError(
                f"no candidate fits a {task.kind} task among {', '.join(options.candidates)}"
            )
        return results

    def compare(self) -> _Compared:
        """Summaries, winnowing, every candidate cross-validated and measured, and selection."""
        from suture.models.select import select

        options, task = self.options, self.task
        profile, decisions = self._summaries()
        rows_compared = self._fit_rows()
        decisions = self._recheck_screened(profile, decisions, rows_compared)
        kept = [d.column for d in decisions if d.keep and d.column != options.target]
        if not kept:
            dropped = "; ".join(
                f"{d.column}: {d.reason}" for d in decisions if d.column != options.target
            )
            raise SchemaError(
                f"no column is left to train on after winnowing ({dropped or 'no columns'}); "
                "force columns in with --include"
            )
        results = self._candidates(profile, kept, rows_compared)
        winner, given_up = select(results, task=task, tolerance=options.tolerance)
        return _Compared(profile, decisions, results, winner, given_up)

    def bundle(self) -> ModelBundle:
        from suture._manifest import created_now
        from suture.models.bundle import ModelBundle
        from suture.models.robustness import sensitivity
        from suture.models.select import default_tolerance, warnings

        options, task, rows = self.options, self.task, self.rows
        compared = self.compare()
        profile, decisions, results = compared.profile, compared.decisions, compared.results
        winner, given_up = compared.winner, compared.given_up
        chosen = compared.chosen
        pipeline = chosen.pipeline
        assert pipeline is not None  # every candidate is fitted with its pipeline
        # Chosen by cross-validation and measured on the holdout, the winner is refitted on
        # every row (training and holdout): the holdout has done its job, and the fifth of
        # the rows it held is worth more to the model than to a second look (on attrition's
        # 1,176 rows the logistic model's AUC on rows none of them saw rose 0.826 -> 0.835).
        n = rows.table.num_rows
        _say(self.progress, "refit", f"refitting {winner} on all {n} rows")
        _refit(chosen.model, pipeline, rows.table, self.y_all)
        _say(self.progress, "robustness", f"bounding how far each input moves {winner}'s score")
        bounds = sensitivity(
            pipeline,
            chosen.model,
            profile=profile,
            contract=rows.contract,
            reference=self.train_rows,
            seed=options.seed,
        )
        counts = np.bincount(self.y_train.astype(np.int64)) if task.is_classification else None
        notes = warnings(task, results, winner, class_counts=counts, decisions=decisions)
        if rows.quarantined:
            notes.append(
                f"{rows.quarantined} of {rows.read} rows broke the contract and were not trained on"
            )
        if rows.no_target:
            notes.append(f"{rows.no_target} rows had no target and were left out")
        result = TrainResult(
            task=task,
            contract=rows.contract,
            profile=profile,
            decisions=decisions,
            candidates=results,
            winner=winner,
            calibrator=chosen.calibrator,
            sensitivity=bounds,
            tolerance=(default_tolerance(task) if options.tolerance is None else options.tolerance),
            given_up=given_up,
            quarantined=rows.quarantined,
            warnings=notes,
            lineage=self._lineage(created_now()),
        )
        return ModelBundle.from_result(result)

    def _lineage(self, created: str) -> dict[str, Any]:
        rows, options = self.rows, self.options
        compared = self.train_rows.num_rows if self.fit_idx is None else int(self.fit_idx.size)
        return {
            "data_fingerprint": _fingerprint(rows.table),
            "contract_fingerprint": rows.contract.fingerprint,
            "rows": {
                "read": rows.read,
                "quarantined": rows.quarantined,
                "no_target": rows.no_target,
                "used": rows.table.num_rows,
                "train": self.train_rows.num_rows,
                "holdout": self.holdout_rows.num_rows,
                "compared_on": compared,
                "final_fit": rows.table.num_rows,
            },
            "task": self.task.to_dict(),
            "parameters": options.to_dict(),
            "seed": options.seed,
            "versions": _versions(),
            "created": created,
        }


class _SampleRun(_Run):
    """The in-memory comparison of the hybrid path: on samples of the training rows and of
    the holdout, with the profile and winnowing of every training row given.

    Cross-validation, calibration and each candidate's holdout figures are those of
    :class:`_Run` on the samples; no row is split or sampled again here.
    """

    def __init__(
        self,
        options: TrainOptions,
        rows: _Rows,
        task: Task,
        progress: Progress | None,
        holdout: pa.Table,
        summaries: tuple[Profile, list[Decision]],
    ) -> None:
        if options.monotone and task.kind == "multiclass":
            raise ConfigError(
                "monotone columns apply to binary and regression targets; "
                f"{options.target!r} has {len(task.classes)} classes"
            )
        self.options, self.rows, self.task, self.progress = options, rows, task, progress
        self.when = None
        self.train_rows, self.holdout_rows = rows.table, holdout
        self.y_train = encode_target(rows.table[options.target], task)
        self.y_holdout = encode_target(holdout[options.target], task)
        self.y_all = self.y_train
        self.train_idx = np.arange(rows.table.num_rows, dtype=np.int64)
        self.fit_idx = None
        self._given = summaries

    def _summaries(self) -> tuple[Profile, list[Decision]]:
        return self._given

    def _candidates(
        self, profile: Profile, kept: list[str], rows: tuple[pa.Table, F64, Folds]
    ) -> list[Candidate]:
        """As :meth:`_Run._candidates`, the baseline first, then the others on
        :data:`HYBRID_THREADS` threads, the costliest first.

        Each candidate's fit depends on its own seed only, so the results are those of one
        thread; LightGBM, BLAS and most of NumPy release the GIL, so two cores share the
        comparison (about 40 s of CPU on 50,000 rows of the 1M x 20 table of
        ``benchmarks/train_bench.py``).
        """
        from concurrent.futures import ThreadPoolExecutor

        options, task = self.options, self.task
        fit_rows, y_fit, folds = rows
        todo = [
            (name, style)
            for name, style, kinds in CANDIDATES
            if name in options.candidates and task.kind in kinds
        ]
        if not todo:
            raise ConfigError(
                f"no candidate fits a {task.kind} task among {', '.join(options.candidates)}"
            )
        styles: dict[str, _Matrices] = {}
        for _, style in todo:
            if style not in styles:
                styles[style] = _matrices(
                    style, profile, kept, task, options, fit_rows, self.holdout_rows
                )
        done: dict[str, Candidate] = {}
        baseline: Evaluation | None = None
        if todo[0][0] == "baseline":
            _say(self.progress, "fit", "fitting baseline")
            done["baseline"], _ = _fit_candidate(
                "baseline", styles[todo[0][1]], task, y_fit, self.y_holdout, folds, options, None
            )
            baseline = done["baseline"].holdout
        rest = sorted(
            (item for item in todo if item[0] not in done),
            key=lambda item: -HYBRID_COSTS.get(item[0], 0),
        )
        _say(self.progress, "fit", f"fitting {', '.join(n for n, _ in rest)} on two threads")
        with ThreadPoolExecutor(max_workers=HYBRID_THREADS) as pool:
            common = (task, y_fit, self.y_holdout, folds, options, baseline)
            futures = {
                name: pool.submit(_fit_candidate, name, styles[style], *common)
                for name, style in rest
            }
            for name, future in futures.items():
                done[name] = future.result()[0]
        return [done[name] for name, _ in todo]


#: The threads the hybrid path compares candidates on (the machine of the issue's
#: target has two cores).
HYBRID_THREADS = 2

#: The relative cost of each candidate, to start the costliest first: CPU seconds on
#: 50,000 rows of the 1M x 20 table of ``benchmarks/train_bench.py``.
HYBRID_COSTS = {
    "lightgbm": 12.7,
    "scorecard_interactions": 12.6,
    "scorecard": 6.1,
    "logistic": 3.1,
    "tree": 3.0,
    "naive_bayes": 2.4,
}


#: Rows transformed at once when a winner is refitted from sufficient statistics.
REFIT_CHUNK = 100_000


def _refit(model: Model, pipeline: FeaturePipeline, rows: pa.Table, y: F64) -> None:
    """Refit the winner on every training row.

    Naive Bayes is refitted from its sufficient statistics, merged chunk by chunk, so its
    memory does not grow with the rows; the others are refitted on the whole matrix.
    """
    from suture.models.naive_bayes import NaiveBayes, NaiveBayesStats

    design = model.design_
    if not isinstance(model, NaiveBayes):
        model.fit(pipeline.transform(rows), y, design=design)
        return
    k = len(design.task.classes)
    stats = NaiveBayesStats.zero(k, design.n_features)
    for start in range(0, rows.num_rows, REFIT_CHUNK):
        part = rows.slice(start, REFIT_CHUNK)
        chunk = NaiveBayesStats.of(pipeline.transform(part), y[start : start + part.num_rows], k)
        stats = stats.merge(chunk)
    model.fit_stats(stats, design=design)


def _fit_sample(n: int, options: TrainOptions) -> npt.NDArray[np.int64] | None:
    """The seeded, sorted sample of training rows the candidates are compared on (or None)."""
    if n <= options.max_fit_rows:
        return None
    rng = np.random.default_rng(options.seed)
    return np.sort(rng.choice(n, size=options.max_fit_rows, replace=False)).astype(np.int64)


def _fingerprint(table: pa.Table) -> str:
    """SHA-256 of the training rows' Arrow IPC stream (schema and values)."""
    digest = hashlib.sha256()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    digest.update(sink.getvalue().to_pybytes())
    return str(digest.hexdigest())


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("suture", "numpy", "pyarrow", "datasketches", "scikit-learn", "lightgbm"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out
