"""The ``suture`` command: thin wrappers that print one clear line on a user's mistake."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from suture import __version__
from suture.errors import SutureError

T = TypeVar("T")

app = typer.Typer(
    name="suture",
    help="Profiles, contracts, models and monitoring for structured business data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

_PROGRESS_MIN_BYTES = 32 << 20
_PROGRESS_MIN_ROWS = 1_000_000


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def run(action: Callable[[], T]) -> T:
    """Run ``action``; turn suture's own errors into one line on stderr and exit 2."""
    try:
        return action()
    except SutureError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; nothing was written", 130) from None


def _version(value: bool) -> None:
    if value:
        out.print(f"suture {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Profiles, contracts, models and monitoring for structured business data."""


@contextmanager
def _progress(source: Any, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    from suture.sources import Source, open_source

    src = source if isinstance(source, Source) else None
    if src is None and not quiet:
        try:
            src = open_source(source)
        except SutureError:
            src = None
    big = src is not None and (
        (src.size_bytes or 0) >= _PROGRESS_MIN_BYTES or (src.num_rows or 0) >= _PROGRESS_MIN_ROWS
    )
    if quiet or not big or src is None:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(f"profiling {src.name}", total=src.num_rows)
        yield lambda rows: bar.advance(task, rows)


def _default_out(source: str) -> Path:
    name = Path(source.rstrip("/")).name
    for suffix in (".csv.gz", ".tsv.gz", ".parquet", ".csv", ".tsv", ".arrow", ".feather", ".ipc"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path(f"{name}.profile")


def _atomic_save(profile: Any, target: Path) -> None:
    """Write next to ``target`` and rename, so a failure never leaves a partial file."""
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=".suture-", suffix=".profile", dir=directory)
    os.close(fd)
    try:
        profile.save(tmp)
        # mkstemp makes the file private (0600); give it the mode a plain write would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@app.command()
def profile(
    source: Annotated[str, typer.Argument(help="A Parquet/CSV/Arrow file or a folder of Parquet.")],
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write the profile.")
    ] = None,
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
        int | None, typer.Option(help="Cores to use (local engine); default all of them.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per batch (local engine).")] = 131_072,
    max_correlated: Annotated[
        int,
        typer.Option(
            min=0,
            help="Correlate at most this many numeric columns, the first ones (0: none).",
        ),
    ] = 64,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")] = False,
) -> None:
    """Summarize a table in one pass; print the summary and write SOURCE.profile."""
    import suture
    from suture.engines import LocalEngine

    def work() -> None:
        if engine not in ("local", "spark"):
            raise _fail(f"unknown engine {engine!r}; use local or spark")
        if engine == "spark":
            from suture.engines.spark import SparkEngine

            runner: Any = SparkEngine(master=spark_master)
            progress = None
            result = suture.profile(
                source, engine=runner, exclude=exclude or (), max_correlated=max_correlated
            )
        else:
            runner = LocalEngine(workers=workers, batch_size=batch_size)
            with _progress(source, quiet) as progress:
                result = suture.profile(
                    source,
                    engine=runner,
                    exclude=exclude or (),
                    max_correlated=max_correlated,
                    progress=progress,
                )
        if result.row_count == 0:
            raise _fail(f"{source} has no rows; there is nothing to profile")
        target = out_path or _default_out(source)
        _atomic_save(result, target)
        if not quiet:
            from suture.report import render_terminal

            render_terminal(result, out)
        if html is not None:
            from suture.report import write_html

            write_html(result, html)
            err.print(f"wrote {html}", highlight=False)
        err.print(f"wrote {target}", highlight=False)

    run(work)


@app.command()
def show(
    path: Annotated[Path, typer.Argument(help="A .profile file.")],
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report.")] = None,
) -> None:
    """Print the summary of a saved profile."""
    from suture.profile import Profile
    from suture.report import render_terminal, write_html

    def work() -> None:
        loaded = Profile.load(path)
        render_terminal(loaded, out)
        if html is not None:
            write_html(loaded, html)
            err.print(f"wrote {html}", highlight=False)

    run(work)


@app.command()
def merge(
    profiles: Annotated[list[Path], typer.Argument(help="Two or more .profile files.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the merge.")],
) -> None:
    """Merge profiles of parts of a table (days, shards) into the profile of the whole."""
    from suture.profile import Profile

    def work() -> None:
        if len(profiles) < 2:
            raise _fail("give at least two profiles to merge")
        merged = Profile.load(profiles[0])
        for path in profiles[1:]:
            merged = Profile.merge(merged, Profile.load(path))
        _atomic_save(merged, out_path)
        err.print(
            f"wrote {out_path}: {merged.row_count:,} rows from {len(profiles)} profiles",
            highlight=False,
        )

    run(work)


@app.command()
def infer(
    source: Annotated[str, typer.Argument(help="A data file, or a .profile made from one.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the contract here (TOML).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Leave this column out (repeatable).")
    ] = None,
) -> None:
    """Write a commented, typed contract (schema.toml) inferred from the data's profile."""
    from suture.schema.cli import infer_command

    raise typer.Exit(infer_command(source, output, exclude=exclude or (), console=out))


@app.command()
def validate(
    source: Annotated[str, typer.Argument(help="The data to check.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="The contract (TOML).")],
    quarantine: Annotated[
        Path | None, typer.Option(help="Write violating rows, with reasons, to this Parquet.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the valid, typed rows here.")
    ] = None,
    max_violations: Annotated[
        str, typer.Option(help="Rows allowed in quarantine: a count (100) or a share (0.5%).")
    ] = "0",
    engine: Annotated[str, typer.Option(help="local or spark.")] = "local",
) -> None:
    """Check data against a contract; quarantine bad rows; exit 1 above the tolerance."""
    from suture.schema.cli import validate_command

    code = validate_command(
        source,
        schema,
        quarantine=quarantine,
        output=output,
        max_violations=max_violations,
        engine=engine,
        console=out,
    )
    raise typer.Exit(code)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier contract.")],
    new: Annotated[Path, typer.Argument(help="The later contract.")],
) -> None:
    """Show what changed between two contracts (exit 1 when something did)."""
    from suture.schema.cli import diff_command

    raise typer.Exit(diff_command(old, new, console=out))


def _mount_subcommands() -> None:
    from suture.recommend.cli import app as recommend_app

    app.add_typer(recommend_app, name="recommend")


_mount_subcommands()


def main() -> None:
    """Entry point of the ``suture`` console script."""
    try:
        app()
    except SutureError as exc:  # raised outside a command's own guard
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
