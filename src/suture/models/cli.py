"""``suture train`` and ``suture score``: the commands behind :func:`suture.train` and scoring.

:func:`train` and :func:`score` are plain functions with typer's parameter declarations,
mounted by the ``suture`` application with ``app.command()``; :func:`train_command` and
:func:`score_command` do the work and return the exit code.  User mistakes raise
:class:`~suture.errors.SutureError` subclasses, which the ``suture`` command prints as one
line and maps to exit code 2.  Only typer and :mod:`suture.errors` load at import, so
``suture --help`` stays light.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from suture.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from suture.models.bundle import ModelBundle
    from suture.models.score import ScoreSummary

__all__ = ["TASKS", "app", "score", "score_command", "train", "train_command"]

TASKS = ("binary", "multiclass", "regression")


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class StageProgress:
    """Training progress on stderr: one line per stage, with the time the last one took.

    Called by :func:`suture.train` as ``progress(stage, *details)``; the first argument
    names the stage (``"profile"``, ``"winnow"``, ``"fit logistic"`` ...).
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, stage: Any, *details: Any) -> None:
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        extra = " ".join(str(d) for d in details if d is not None)
        _say(f"[{elapsed:6.1f}s] {stage}{' ' + extra if extra else ''}")


def _check_train_options(
    target: str,
    task: str | None,
    include: Sequence[str],
    exclude: Sequence[str],
    tolerance: float | None,
) -> None:
    """Refuse option mistakes before any data is read."""
    if not target.strip():
        raise ConfigError("--target is empty; name the column to predict")
    if task is not None and task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    if target in include:
        raise ConfigError(
            f"--include names the target {target!r}: the column to predict cannot also be a "
            "feature; remove it from --include"
        )
    both = sorted(set(include) & set(exclude))
    if both:
        raise ConfigError(
            f"{', '.join(map(repr, both))} is both in --include and --exclude; keep it in one"
        )
    if tolerance is not None and not tolerance >= 0:
        raise ConfigError(
            f"--tolerance must be 0 or more (how much worse than the best a simpler model may "
            f"be), got {tolerance}"
        )


def parse_monotone(specs: Sequence[str]) -> dict[str, int]:
    """``--monotone COLUMN=1`` (rising) or ``COLUMN=-1`` (falling) options as a dict.

    Raises
    ------
    ConfigError
        For a spec of another form, or a column given twice.
    """
    out: dict[str, int] = {}
    for spec in specs:
        column, sep, direction = spec.rpartition("=")
        if not sep or not column or direction.strip() not in ("1", "-1", "+1"):
            raise ConfigError(
                f"--monotone {spec!r}: expected COLUMN=1 (the score rises with the column) "
                "or COLUMN=-1 (it falls)"
            )
        if column in out:
            raise ConfigError(f"--monotone names {column!r} twice; give it once")
        out[column] = int(direction)
    return out


def train_command(
    source: str,
    target: str,
    output: str | Path,
    *,
    schema: str | Path | None = None,
    time_column: str | None = None,
    positive: str | None = None,
    task: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tolerance: float | None = None,
    seed: int = 0,
    engine: Any = None,
    quiet: bool = False,
    console: Console | None = None,
    monotone: Sequence[str] = (),
    streaming: bool | None = None,
) -> int:
    """Train on ``source`` and save the bundle to ``output``; print the candidates.

    Returns
    -------
    int
        :data:`~suture.errors.EXIT_OK`.
    """
    from suture.bundle import MODEL, check_output
    from suture.bundle import _check_replaceable as check_replaceable
    from suture.schema.contract import Schema

    _check_train_options(target, task, include, exclude, tolerance)
    directions = parse_monotone(monotone)
    check_output(output, folder=True)
    check_replaceable(Path(output), MODEL)  # before any work: the save would refuse it
    contract = Schema.load(schema) if schema is not None else None
    from suture.models.base import TASK_KINDS
    from suture.train import train as run_train

    kind = next((k for k in TASK_KINDS if k == task), None)  # checked above

    bundle: ModelBundle = run_train(
        source,
        target,
        schema=contract,
        time_column=time_column,
        positive=positive,
        task=kind,
        include=tuple(include),
        exclude=tuple(exclude),
        tolerance=tolerance,
        seed=seed,
        engine=engine,
        output=output,
        progress=StageProgress(quiet),
        monotone=directions,
        streaming=streaming,
    )
    render_candidates(bundle, console)
    _say(f"wrote {output}")
    return EXIT_OK


def render_candidates(bundle: ModelBundle, console: Console | None = None) -> None:
    """The short table of candidates and the winner, on ``console`` (stdout by default)."""
    from rich.console import Console
    from rich.table import Table

    out = console or Console()
    primary = bundle.holdout.primary if bundle.holdout is not None else ""
    table = Table(title=f"candidates for {bundle.task.target} ({bundle.task.kind})")
    table.add_column("candidate")
    note = _interval_note(bundle)
    bracket = "holdout interval" if note else "holdout 95% interval"
    for name in (f"cv {primary}", f"holdout {primary}", bracket):
        table.add_column(name, justify="right")
    for c in bundle.candidates:
        name, kind = str(c.get("name", "")), str(c.get("kind", ""))
        label = name if kind in ("", name) else f"{name} ({kind})"
        holdout = _metric(c.get("holdout"), primary)
        table.add_row(
            label + (" *" if name == bundle.winner else ""),
            _value_text(_metric(c.get("cv"), primary)),
            _value_text(holdout),
            _interval_text(holdout),
        )
    out.print(table)
    if note:
        out.print(note)
    out.print(f"chosen: {bundle.winner} (* above). {bundle.given_up}".rstrip())
    for warning in bundle.warnings:
        out.print(f"warning: {warning}")
    if bundle.quarantined:
        out.print(
            f"{bundle.quarantined:,} training rows broke the contract and were not trained on"
        )


def _interval_note(bundle: ModelBundle) -> str:
    """What the holdout interval column holds when it is not a bootstrap 95% interval
    for every candidate (streamed and hybrid training), else ""."""
    lineage = bundle.lineage or {}
    rows = lineage.get("rows") or {}
    if lineage.get("path") == "hybrid":
        return (
            f"holdout interval: 95% bootstrap on a holdout sample of "
            f"{rows.get('holdout_sample', 0):,} rows; the chosen model's (*) is over the "
            f"whole holdout of {rows.get('holdout', 0):,} rows, an exact bound for AUC"
        )
    if (lineage.get("parameters") or {}).get("streaming"):
        return "holdout interval: an exact bound for AUC from the streamed pass (no bootstrap)"
    return ""


def _metric(evaluation: Any, metric: str) -> dict[str, Any]:
    if not evaluation:
        return {}
    found = (evaluation.get("metrics") or {}).get(metric)
    return dict(found) if found else {}


def _value_text(m: dict[str, Any]) -> str:
    from suture.report import _format as f

    return f.num(m["value"]) if m.get("value") is not None else f.DASH


def _interval_text(m: dict[str, Any]) -> str:
    from suture.report import _format as f

    low, high = m.get("low"), m.get("high")
    return f"{f.num(low)} – {f.num(high)}" if low is not None and high is not None else f.DASH


def score_command(
    model: str | Path,
    source: str,
    output: str | Path,
    *,
    explain: int = 0,
    quarantine: str | Path | None = None,
    engine: Any = None,
    folder: bool = False,
    progress: Any = None,
) -> int:
    """Score ``source`` with the bundle at ``model``; write the scored rows to ``output``.

    Returns
    -------
    int
        :data:`~suture.errors.EXIT_OK`.  Without ``quarantine`` a row that breaks the
        contract stops the command (a SchemaError, exit 2, nothing written).
    """
    from suture.bundle import check_output
    from suture.models.bundle import ModelBundle
    from suture.models.score import score_source

    if explain < 0:
        raise ConfigError(f"--explain must be 0 or more (input columns per row), got {explain}")
    for path in (output, quarantine):
        if path is not None:
            check_output(path, folder=folder)
    if quarantine is not None and Path(quarantine) == Path(output):
        raise ConfigError(f"--quarantine and --output are the same path {output}; give two")
    bundle = ModelBundle.read(model)
    summary = score_source(
        bundle,
        source,
        output,
        explain=explain,
        quarantine=quarantine,
        engine=engine,
        progress=progress,
    )
    _say(_score_line(summary, output, quarantine))
    return EXIT_OK


def _score_line(summary: ScoreSummary, output: str | Path, quarantine: str | Path | None) -> str:
    wrote = f"wrote {output}" + (f" and {quarantine}" if quarantine is not None else "")
    text = f"scored {summary.scored:,} of {summary.rows:,} rows"
    if summary.quarantined:
        rules = ", ".join(
            f"{kind}({column}): {count:,}"
            for (column, kind), count in sorted(summary.validation.counts.items())
            if count
        )
        text += f"; {summary.quarantined:,} broke the contract and were quarantined ({rules})"
    return f"{text}; {wrote}"


# -- typer declarations ------------------------------------------------------------------


def train(
    source: Annotated[str, typer.Argument(help="The training data: Parquet, CSV or a folder.")],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", "--out", help="The model bundle folder to write.")
    ],
    schema: Annotated[
        Path | None,
        typer.Option("--schema", "-s", help="The contract (TOML); default: inferred."),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(help="Hold out the latest rows by this column instead of a random share."),
    ] = None,
    positive: Annotated[
        str | None, typer.Option(help="The positive class of a binary target.")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="Force the task: binary, multiclass or regression.")
    ] = None,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="Force a column in (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Leave a column out (repeatable).")
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="How far behind the best a simpler model may be and still win "
            "(default 0.005 AUC, or 1% relative RMSE)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the splits and fits.")] = 0,
    engine: Annotated[str, typer.Option(help="local or spark.")] = "local",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")
    ] = False,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV field separator; default: detected.")
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of a CSV file.")] = "utf-8",
    monotone: Annotated[
        list[str] | None,
        typer.Option(
            "--monotone",
            help="COLUMN=1 or COLUMN=-1: the scorecards' score rises (falls) with the column "
            "(repeatable).",
        ),
    ] = None,
    streaming: Annotated[
        bool | None,
        typer.Option(
            "--streaming/--in-memory",
            help="--streaming: train from engine passes without holding the rows (flat "
            "memory; the candidates that fit from aggregators only), always so on Spark. "
            "--in-memory: hold the rows, however many. Default: in memory, or for a "
            "source with more than 500,000 rows (Parquet metadata) the hybrid path: "
            "streamed passes, every candidate compared on a sample, flat memory.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train the simplest good model for a target and save it as a bundle.

    Profile and target summaries, contract check, winnowing, features, candidates with
    cross-validation, holdout, selection, calibration: progress per stage on stderr, then
    the candidates and the winner.  The bundle appears complete or not at all.
    """
    from suture.cli import _console, _engine, _reading

    runner = _engine(engine, _reading(delimiter, encoding))
    code = train_command(
        source,
        target,
        output,
        schema=schema,
        time_column=time_column,
        positive=positive,
        task=task,
        include=include or (),
        exclude=exclude or (),
        tolerance=tolerance,
        seed=seed,
        engine=runner,
        quiet=quiet,
        console=_console(),
        monotone=monotone or (),
        streaming=streaming,
    )
    raise typer.Exit(code)


def score(
    model: Annotated[Path, typer.Argument(help="The model bundle folder (suture train -o).")],
    source: Annotated[str, typer.Argument(help="The data to score.")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", "--out", help="Where to write the scored rows (Parquet)."),
    ],
    explain: Annotated[
        int, typer.Option(help="Add the top N input columns behind each score.")
    ] = 0,
    quarantine: Annotated[
        Path | None,
        typer.Option(
            help="Write rows that break the contract here, with reasons, and score the "
            "rest; without it such a row stops the command and nothing is written."
        ),
    ] = None,
    engine: Annotated[str, typer.Option(help="local or spark.")] = "local",
    delimiter: Annotated[
        str | None, typer.Option(help="CSV field separator; default: detected.")
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of a CSV file.")] = "utf-8",
) -> None:
    """Score data with a model bundle: contract check, features, model, calibration.

    Adds prediction and probability columns (and explanations with --explain).  The
    outputs are written together or not at all.
    """
    from suture.cli import _engine, _reading

    runner = _engine(engine, _reading(delimiter, encoding))
    code = score_command(
        model,
        source,
        output,
        explain=explain,
        quarantine=quarantine,
        engine=runner,
        folder=engine == "spark",
    )
    raise typer.Exit(code)


#: The two commands, which ``suture`` mounts lazily (see ``suture.cli.MODEL_COMMANDS``).
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command(name="train")(train)
app.command(name="score")(score)
