"""The ``suture`` command: thin wrappers that print one clear line on a user's mistake.

Exit codes (:mod:`suture.errors`), the same for every command:

- 0: success, nothing to report;
- 1: the check found something (violations above tolerance, a contract diff);
- 2: a user mistake or unreadable input (a bad option, a missing or damaged file, an
  output that cannot be written): one line ``error: ...`` on stderr says what, where
  and the fix;
- 3: an internal error, a bug in suture: a short message says so and how to report it;
  ``--debug`` (or ``SUTURE_DEBUG=1``) shows the traceback;
- 130: interrupted (Ctrl-C); nothing was written;
- 141: the reader of the output went away (``suture show x.profile | head``), the code a
  shell reports for a tool that SIGPIPE ended.

Every output a command writes goes through :func:`suture.bundle.atomic_outputs`: it
appears complete or not at all, and the outputs of one command are replaced together.
Heavy libraries (pyarrow, NumPy, the sketches, rich) load inside the commands, so
``suture --version`` and ``suture --help`` answer at once.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from suture import __version__
from suture.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    EmptyInputError,
    SutureError,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "COMPARE_EXIT_CODES",
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES",
    "MONITOR_EXIT_CODES",
    "RECOMMEND_HELP",
    "app",
    "check_at_least",
    "default_output",
    "main",
    "one_line",
]

#: The exit-code convention, as ``suture --help`` states it.
EXIT_CODES = (
    "Exit codes: 0 success; 1 the check found something (violations above tolerance, a "
    "diff); 2 a usage mistake or unreadable input (one line 'error: ...' says what, where "
    "and the fix); 3 a bug in suture (--debug or SUTURE_DEBUG=1 shows the traceback); "
    "130 interrupted, nothing written; 141 the reader of the output went away."
)
RECOMMEND_HELP = "Recommend items from MinHash signatures of who chose them."
#: The exit codes of ``suture compare``, as its ``--help`` states them.
COMPARE_EXIT_CODES = (
    "Exit codes: 0 no column alerts (watch alone does not fail a pipeline); 1 drift "
    "found: a column alerts, on the whole table or in a segment; 2 bad input (no shared "
    "column, a damaged or empty profile, an empty side, different sketch sizes, nonsense "
    "thresholds, a bad option: one line 'error: ...' says what and the fix); 141 the "
    "reader of the output went away (the --json and --html files are written before the "
    "table is printed)."
)
#: The exit codes of ``suture monitor``, as its ``--help`` states them.
MONITOR_EXIT_CODES = (
    "Exit codes: 0 no anomaly or alert in the newest period; 1 the newest period has an "
    "anomaly or an alert against the baseline (a column suture compare would call alert); "
    "2 bad input (a missing folder, fewer than two profiles, a damaged profile or state, a "
    "profile of another table or with too small sketches, an unknown --baseline, a bad "
    "option: one line 'error: ...' says what and the fix); 141 the reader of the output "
    "went away (the timeline is written before anything is printed)."
)
_PROGRESS_MIN_BYTES = 32 << 20
_PROGRESS_MIN_ROWS = 1_000_000
_DEBUG = {"on": False}
#: A closed output pipe, as a shell reports a tool that SIGPIPE ended.
EXIT_BROKEN_PIPE = 141


# ----------------------------------------------------------------------------- the group


class _LazyGroup(TyperGroup):
    """The ``suture`` group with ``recommend`` mounted lazily.

    Loading the recommender imports NumPy and pyarrow; its sub-app is built only when
    ``suture recommend ...`` runs, so ``suture --help`` stays light.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.add_command(_LazyRecommend(name="recommend", help=RECOMMEND_HELP), "recommend")
        for name, text in MODEL_COMMANDS.items():
            self.add_command(_LazyModelCommand(name=name, help=text), name)


class _LazyRecommend(TyperGroup):
    """A stand-in for ``suture recommend`` that hands over to the real group when run."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        from suture.recommend.cli import app as recommend_app

        real = typer.main.get_command(recommend_app)
        return real.make_context(info_name, args, parent=parent, **extra)


#: ``suture train`` and ``suture score``, loaded when run: importing the model package
#: loads NumPy, Arrow and the candidates.
MODEL_COMMANDS = {
    "train": "Train the simplest good model for a target and save it as a bundle.",
    "score": "Score data with a model bundle: contract check, features, model, calibration.",
}


class _LazyModelCommand(typer.core.TyperCommand):
    """A stand-in for ``suture train`` / ``suture score`` that hands over when run."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        from suture.models.cli import app as models_app

        real = typer.main.get_command(models_app).commands[str(self.name)]  # type: ignore[attr-defined]
        return real.make_context(info_name, args, parent=parent, **extra)


app = typer.Typer(
    name="suture",
    cls=_LazyGroup,
    help="Profiles, contracts, models and monitoring for structured business data.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"suture {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show the traceback of an internal error (also SUTURE_DEBUG=1)."
        ),
    ] = False,
) -> None:
    """Profiles, contracts, models and monitoring for structured business data."""
    _DEBUG["on"] = _DEBUG["on"] or debug


# ----------------------------------------------------------------------------- helpers


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def one_line(message: object) -> str:
    """``str(message)`` on one line: the lines of a multi-line message joined by spaces."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def check_at_least(option: str, value: float | None, low: int, meaning: str) -> None:
    """Refuse a numeric option below ``low`` before any work is done.

    Raises
    ------
    ConfigError
        ``"--batch-size must be 1 or more (rows per batch), got 0"``.
    """
    if value is not None and value < low:
        raise ConfigError(f"{option} must be {low} or more ({meaning}), got {value}")


def _sketch_sizes(k: int | None, lg_k: int | None, lg_max_map: int | None) -> dict[str, int]:
    """The sketch-size options given, checked before any data is read, as keywords."""
    from suture.sketches.sizes import check_k, check_lg_k, check_lg_max_map

    given = {"k": (k, check_k, "--k"), "lg_k": (lg_k, check_lg_k, "--lg-k"),
             "lg_max_map": (lg_max_map, check_lg_max_map, "--lg-max-map")}  # fmt: skip
    sizes: dict[str, int] = {}
    for key, (value, check, flag) in given.items():
        if value is None:
            continue
        try:
            sizes[key] = check(value)
        except ConfigError as exc:
            raise ConfigError(f"{flag} {value}: {exc}") from None
    return sizes


def default_output(source: str, suffix: str = ".profile") -> Path:
    """Where an output goes by default: the source's file name plus ``suffix``, here.

    ``flights.csv.gz`` gives ``./flights.csv.gz.profile``, so profiles of
    ``flights.parquet``, ``flights.csv`` and ``flights.csv.gz`` never overwrite one
    another; a folder ``events/`` (or ``s3a://bucket/events/``) gives ``./events.profile``.
    """
    name = Path(source.rstrip("/")).name
    if name in ("", ".", ".."):
        name = Path(source).resolve().name or "table"
    return Path(name + suffix)


def _console() -> Console:
    """Standard output; a closed pipe raises BrokenPipeError (rich would exit 1)."""
    from rich.console import Console

    class _Stdout(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return _Stdout()


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _import_behind(module: str) -> None:
    """Import ``module`` on a background thread while this one works.

    The profile spends much of its time in Arrow, NumPy and the sketch libraries, which
    release the GIL; importing the summary's renderer (rich: 40 ms) in those gaps takes
    it off the critical path of a small profile.  A later ``import`` of the module waits
    for this one to finish (Python's per-module import lock) and reports its error, if any.
    """
    import importlib
    import threading

    def load() -> None:
        with contextlib.suppress(Exception):  # the importing thread raises it again
            importlib.import_module(module)

    threading.Thread(target=load, name=f"import {module}", daemon=True).start()


def _reading(delimiter: str | None, encoding: str) -> dict[str, Any]:
    """The reading options of the command line, checked, as engine keyword arguments."""
    import codecs

    if delimiter == "\\t":
        delimiter = "\t"
    if delimiter is not None and len(delimiter) != 1:
        raise ConfigError(
            f"--delimiter must be one character, got {delimiter!r}; use e.g. ';' or '\\t'"
        )
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            f"--encoding {encoding!r} is not an encoding Python knows; use e.g. utf-8, "
            "latin-1 or cp1252"
        ) from None
    return {"delimiter": delimiter, "encoding": encoding}


def _engine(
    name: str,
    reading: dict[str, Any],
    *,
    workers: int | None = None,
    batch_size: int | None = None,
    spark_master: str | None = None,
) -> Any:
    """The engine object the options name: local (the default) or spark."""
    if name not in ("local", "spark"):
        raise ConfigError(f"unknown engine {name!r}; use local or spark")
    sizes: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
    if name == "spark":
        from suture.engines.spark import SparkEngine

        return SparkEngine(master=spark_master, **sizes, **reading)
    from suture.engines import LocalEngine

    return LocalEngine(workers=workers, **sizes, **reading)


@contextmanager
def _progress(runner: Any, source: Any, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for a big input on the local engine, or any on Spark.

    The size comes from the engine's own opening of ``source``, which the profile then
    reuses, so a CSV file is not read an extra time to decide.
    """
    if quiet or getattr(runner, "name", None) not in ("local", "spark"):
        yield None
        return
    if runner.name == "spark":  # rows as Spark's partitions finish; the total is unknown
        if not _stderr_console().is_terminal:
            yield None  # a bar of unknown length shows nothing useful in a log
            return
        total, name = None, runner.describe(source)
    else:
        src = runner.open(source)
        if (src.size_bytes or 0) < _PROGRESS_MIN_BYTES and (src.num_rows or 0) < _PROGRESS_MIN_ROWS:
            yield None
            return
        total, name = src.num_rows, src.name
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=_stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"profiling {name}", total=total)
        yield lambda rows: bar.advance(task, rows)


# ----------------------------------------------------------------------------- options

ProfileOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        "--out",
        help="Where to write the profile; default ./NAME.profile, NAME the source's file name.",
    ),
]
DelimiterOpt = Annotated[
    str | None,
    typer.Option(help="CSV field separator, e.g. ';' or '\\t'; default: detected from the header."),
]
EncodingOpt = Annotated[str, typer.Option(help="Text encoding of a CSV file, e.g. latin-1.")]


# ----------------------------------------------------------------------------- commands


@app.command()
def profile(
    source: Annotated[str, typer.Argument(help="A Parquet/CSV/Arrow file or a folder of Parquet.")],
    out_path: ProfileOutputOpt = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report.")
    ] = None,
    engine: Annotated[str, typer.Option(help="local or spark.")] = "local",
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL, e.g. spark://host:7077.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Leave this column out (repeatable).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Cores to use (local engine, 1 or more); default all.")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Rows per batch (local engine, 1 or more); default 131,072."),
    ] = None,
    max_correlated: Annotated[
        int,
        typer.Option(help="Correlate at most this many numeric columns, the first ones (0: none)."),
    ] = 64,
    k: Annotated[
        int | None,
        typer.Option("--k", help="KLL quantile sketch size, 8 to 65,535; default 1,024."),
    ] = None,
    lg_k: Annotated[
        int | None,
        typer.Option("--lg-k", help="HyperLogLog size (log2 of registers), 4 to 21; default 12."),
    ] = None,
    lg_max_map: Annotated[
        int | None,
        typer.Option(
            "--lg-max-map", help="Frequent-items size (log2 of its map), 3 to 26; default 11."
        ),
    ] = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = "utf-8",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")] = False,
) -> None:
    """Summarize a table in one pass; print the summary and write ./NAME.profile.

    NAME is the source's file name: flights.csv.gz gives ./flights.csv.gz.profile, so
    profiles of flights.parquet and flights.csv never overwrite one another.  -o names
    another path.  The profile and the --html report are written together or not at all.
    """
    check_at_least("--workers", workers, 1, "cores to use")
    check_at_least("--batch-size", batch_size, 1, "rows per batch")
    check_at_least("--max-correlated", max_correlated, 0, "numeric columns to correlate")
    sizes = _sketch_sizes(k, lg_k, lg_max_map)
    from suture.bundle import atomic_outputs, check_output

    target = out_path if out_path is not None else default_output(source)
    targets = [target] if html is None else [target, html]
    for path in targets:
        check_output(path)
    runner = _engine(
        engine,
        _reading(delimiter, encoding),
        workers=workers,
        batch_size=batch_size,
        spark_master=spark_master,
    )
    import suture

    with _progress(runner, source, quiet) as progress:
        if progress is None and runner.name == "local":
            # Decode the file while the profile's code loads; the profile reads Parquet
            # strings as dictionaries (its aggregator's reads_dictionaries).
            runner.read_ahead(source, dictionary_strings=True)
        profile_table = suture.profile  # loads the sketches (holding the GIL) meanwhile
        if not quiet and progress is None:  # (a progress bar imports rich meanwhile)
            # Only now: the summary's renderer then loads in the gaps that the profile's
            # Arrow and NumPy kernels leave, not in turn with the sketches' own import.
            _import_behind("suture.report.terminal")
        result = profile_table(
            source,
            engine=runner,
            exclude=exclude or (),
            max_correlated=max_correlated,
            progress=progress,
            **sizes,
        )
    if result.row_count == 0:
        raise EmptyInputError(f"{source} has no rows; there is nothing to profile")
    with atomic_outputs(targets) as temporaries:
        result.save(temporaries[0])
        if html is not None:
            from suture.report.html import write_html

            write_html(result, temporaries[1])
    if not quiet:
        from suture.report.terminal import render_terminal

        render_terminal(result, _console())
    if html is not None:
        _say(f"wrote {html}")
    _say(f"wrote {target}")


@app.command()
def show(
    path: Annotated[Path, typer.Argument(help="A .profile file.")],
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report.")] = None,
) -> None:
    """Print the summary of a saved profile."""
    from suture.bundle import atomic_outputs, check_output

    if html is not None:
        check_output(html)
    from suture.profile import Profile

    loaded = Profile.load(path)
    if html is not None:
        from suture.report.html import write_html

        with atomic_outputs([html]) as (temporary,):
            write_html(loaded, temporary)
    from suture.report.terminal import render_terminal

    render_terminal(loaded, _console())
    if html is not None:
        _say(f"wrote {html}")


@app.command()
def merge(
    profiles: Annotated[list[Path], typer.Argument(help="Two or more .profile files.")],
    out_path: Annotated[
        Path, typer.Option("--output", "-o", "--out", help="Where to write the merge.")
    ],
) -> None:
    """Merge profiles of parts of a table (days, shards) into the profile of the whole."""
    if len(profiles) < 2:
        raise ConfigError("give at least two profiles to merge")
    from suture.bundle import atomic_outputs, check_output

    check_output(out_path)
    from suture.profile import Profile

    merged = Profile.load(profiles[0])
    for path in profiles[1:]:
        merged = Profile.merge(merged, Profile.load(path))
    with atomic_outputs([out_path]) as (temporary,):
        merged.save(temporary)
    _say(f"wrote {out_path}: {merged.row_count:,} rows from {len(profiles)} profiles")


@app.command()
def infer(
    source: Annotated[str, typer.Argument(help="A data file, or a .profile made from one.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", "--out", help="Write the contract here (TOML)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Leave this column out (repeatable).")
    ] = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = "utf-8",
) -> None:
    """Write a commented, typed contract (schema.toml) inferred from the data's profile.

    Without -o the contract is printed (valid TOML whatever the terminal or pipe).
    """
    if output is not None:
        from suture.bundle import check_output

        check_output(output)
    runner = _engine("local", _reading(delimiter, encoding))
    from suture.schema.cli import infer_command

    code = infer_command(source, output, exclude=exclude or (), console=_console(), engine=runner)
    raise typer.Exit(code)


@app.command()
def validate(
    source: Annotated[str, typer.Argument(help="The data to check.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="The contract (TOML).")],
    quarantine: Annotated[
        Path | None, typer.Option(help="Write violating rows, with reasons, to this Parquet.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", "--out", help="Write the valid, typed rows here."),
    ] = None,
    max_violations: Annotated[
        str, typer.Option(help="Rows allowed in quarantine: a count (100) or a share (0.5%).")
    ] = "0",
    engine: Annotated[str, typer.Option(help="local or spark.")] = "local",
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = "utf-8",
) -> None:
    """Check data against a contract; quarantine bad rows; exit 1 above the tolerance.

    The valid rows and the quarantine are written together or not at all.
    """
    runner = _engine(engine, _reading(delimiter, encoding))
    from suture.bundle import check_output

    for path in (quarantine, output):
        if path is not None:
            check_output(path, folder=engine == "spark")
    from suture.schema.cli import validate_command

    code = validate_command(
        source,
        schema,
        quarantine=quarantine,
        output=output,
        max_violations=max_violations,
        engine=runner,
        console=_console(),
    )
    raise typer.Exit(code)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier contract.")],
    new: Annotated[Path, typer.Argument(help="The later contract.")],
) -> None:
    """Show what changed between two contracts (exit 1 when something did)."""
    from suture.schema.cli import diff_command

    raise typer.Exit(diff_command(old, new, console=_console()))


def compare(
    baseline: Annotated[str, typer.Argument(help="Baseline: a .profile file or data.")],
    current: Annotated[str, typer.Argument(help="Current side: a .profile file or data.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the result as JSON to this file.")
    ] = None,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Also write an offline HTML report to this file."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", "-c", help="Compare only this column (repeatable)."),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            "-t",
            help="Set a threshold: [COLUMN:]METRIC=WATCH,ALERT, metrics psi, ks, js, "
            "null_rate, out_of_contract; without COLUMN for every column (repeatable); "
            "overrides the contract's.",
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Also compare each level of this categorical column."),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            help="A contract: its per-column drift thresholds and the out-of-contract rate.",
        ),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            "-r",
            help="A baseline window to learn tolerances from (repeat, at least twice).",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="A binary model bundle: estimate its accuracy and AUC on the current data "
            "before labels arrive.",
        ),
    ] = None,
) -> int:
    """Compare two tables or profiles for drift: per column PSI, KS, JS, chi-square, nulls.

    Each column gets a verdict (ok / watch / alert).  The options, the thresholds and
    the --json / --html paths are checked before any data is read; the --json and --html
    files are written (together, atomically) before the table is printed.
    """
    from suture.monitor.cli import parse_thresholds
    from suture.monitor.thresholds import check_thresholds

    for spec in threshold or []:
        check_thresholds(parse_thresholds([spec]), where=f"--threshold {spec!r}")
    if reference is not None and len(reference) < 2:
        raise ConfigError(
            f"--reference {reference[0]!r} was given once: learning tolerances needs at "
            "least two reference windows; pass --reference once per window (for example "
            "one per week)"
        )
    from suture.monitor.cli import compare_command

    code = compare_command(
        baseline, current, json_path=json_out, html_path=html_out, columns=column or None,
        thresholds=parse_thresholds(threshold or []), by=by, schema=schema,
        references=reference or None, model=model, console=_console(),
    )  # fmt: skip
    for path in (json_out, html_out):
        if path is not None:
            _say(f"wrote {path}")
    return code


def monitor(
    folder: Annotated[str, typer.Argument(help="A folder of .profile files, one per period.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for timeline.html, .json and state.")
    ],
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="The baseline period's name (default: the first)."),
    ] = None,
) -> int:
    """Time series of every column's metrics over a sequence of profiles, with anomalies.

    Periods in OUTPUT's state are reused.  Each period is judged against the baseline as
    `suture compare` judges it.
    """
    from suture.monitor.cli import monitor_command

    return monitor_command(folder, output, baseline=baseline, console=_console())


def _mount_compare() -> None:
    # The commands import suture.monitor inside, so the command line still starts
    # without NumPy or Arrow.
    from suture.serve.archive_cli import app as archive_app
    from suture.serve.archive_cli import explain
    from suture.serve.cli import serve

    app.command(name="compare", epilog=COMPARE_EXIT_CODES)(compare)
    app.command(name="monitor", epilog=MONITOR_EXIT_CODES)(monitor)
    app.command(name="serve")(serve)
    app.command(name="explain")(explain)
    app.add_typer(archive_app, name="archive")


_mount_compare()


# ----------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``suture`` console script; returns the exit code.

    ``suture --version`` is answered before the command-line machinery is built.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        sys.stdout.write(f"suture {__version__}\n")
        return EXIT_OK
    _DEBUG["on"] = os.environ.get("SUTURE_DEBUG", "") not in ("", "0")
    try:
        return _invoke(args)
    except BrokenPipeError:
        return _broken_pipe()
    except SystemExit as exc:
        # typer answers a closed pipe with exit 1, the code of a check that found something.
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            return _broken_pipe()
        raise exc from None


def _broken_pipe() -> int:
    """The reader of our output went away (``suture show x.profile | head``): stop quietly.

    The exit code is the one a shell reports for a tool that SIGPIPE ended (128 + 13).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _command_for(args: list[str]) -> Any:
    """The click command that runs ``args``: the group with only the command they name.

    Typer builds a click command from every registered function's signature and help
    (13 commands: 40 ms, a tenth of ``suture profile`` on a small file); ``suture
    profile ...`` needs only ``profile``'s.  The group keeps its callback (``--version``,
    ``--debug``), so the command parses, helps and fails exactly as in the whole group.
    Anything else (``--help``, no command, a group such as ``archive``, an unknown name
    that deserves suggestions) gets the whole group.
    """
    name = args[0] if args else ""
    for info in app.registered_commands:
        callback_name = info.callback.__name__ if info.callback is not None else ""
        if (info.name or typer.main.get_command_name(callback_name)) == name:
            lean = copy.copy(app)
            lean.registered_commands, lean.registered_groups = [info], []
            return typer.main.get_command(lean)
    return typer.main.get_command(app)


def _invoke(args: list[str]) -> int:
    """Run the application on ``args`` and map every outcome to one exit code."""
    command = _command_for(args)
    try:
        code = command.main(args, prog_name="suture", standalone_mode=False)
    except SutureError as exc:
        _debug_traceback()
        _say(f"error: {one_line(exc)}")
        return EXIT_USAGE
    except typer.TyperException as exc:  # click's usage errors: unknown option, bad value
        return _usage_error(exc)
    except (KeyboardInterrupt, typer.Abort):
        _say("interrupted; nothing was written")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as exc:  # the one place that reports bugs
        return _internal_error(exc)
    if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into Exit(130) silently
        _say("interrupted; nothing was written")
    return code if isinstance(code, int) else EXIT_OK


def _usage_error(exc: Any) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":
        shown = exc.format_message()  # typer has already printed the help; click has not
        if shown.strip():
            _say(shown.rstrip())
        return EXIT_USAGE
    ctx = getattr(exc, "ctx", None)
    where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
    _say(f"error: {one_line(exc.format_message()).rstrip('.')}{where}")
    return EXIT_USAGE  # click gives some of its errors exit code 1, the code of a finding


def _internal_error(exc: BaseException) -> int:
    if _DEBUG["on"]:
        traceback.print_exception(exc)
    # A worker's or executor's InternalError carries its traceback in the message: show
    # its first line and its last (the exception), the rest under --debug.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = " ".join(lines[:1] + lines[-1:] if len(lines) > 1 else lines) or "(no message)"
    _say(
        f"internal error: {type(exc).__name__}: {detail}. This is a bug in suture "
        f"{__version__}, not a mistake of yours; please report it with the command you "
        "ran and the traceback that --debug (or SUTURE_DEBUG=1) shows."
    )
    return EXIT_INTERNAL


def _debug_traceback() -> None:
    if _DEBUG["on"]:
        traceback.print_exc()


def console() -> None:
    """The ``suture`` console script: :func:`main`, then a fast exit.

    Once the command is done (every output renamed into place, worker processes joined),
    the interpreter's teardown of NumPy, Arrow and the sketch libraries only costs time
    (40 ms on a small table, a tenth of the whole run), so the process ends with
    ``os._exit`` after flushing its output.  When Spark was used, the normal exit runs,
    because PySpark stops its JVM in an ``atexit`` handler.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = _broken_pipe()
    if "pyspark" in sys.modules:
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    console()
