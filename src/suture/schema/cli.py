"""The contract commands as plain functions: ``suture infer``, ``validate`` and ``diff``.

Each takes typed arguments, prints with rich and returns the exit code of
:mod:`suture.errors`: 0 (``EXIT_OK``) success, 1 (``EXIT_FOUND``) violations above the
tolerance or a changed contract, 2 (``EXIT_USAGE``) a user's mistake or unreadable input,
printed as one line, never a traceback.  Other exceptions are bugs: they propagate to
``suture/cli.py``, which gives them their own exit code.  The contract ``infer`` prints
is written raw (no wrapping at the terminal's width), so it is valid TOML in any
terminal or pipe.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from suture.errors import EXIT_FOUND, EXIT_OK, EXIT_USAGE, ConfigError, SutureError

__all__ = ["diff_command", "infer_command", "parse_tolerance", "validate_command"]

EXIT_VIOLATIONS = EXIT_FOUND
EXIT_ERROR = EXIT_USAGE
_TOLERANCE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(%?)\s*$")


def _console(console: Console | None) -> Console:
    return console if console is not None else Console(highlight=False)


def _error(console: Console, exc: SutureError) -> int:
    # Errors go to stderr, like every suture command's, unless the caller chose a file.
    target = Console(stderr=True, highlight=False) if console.file is sys.stdout else console
    target.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    return EXIT_ERROR


def parse_tolerance(text: str, rows: int) -> int:
    """The most quarantined rows allowed: ``"100"`` (rows) or ``"0.5%"`` (of ``rows``).

    Raises
    ------
    ConfigError
        When ``text`` is neither.
    """
    m = _TOLERANCE.match(text)
    if m is None:
        raise ConfigError(
            f"--max-violations {text!r} is not a count or a percentage; use e.g. 100 or 0.5%"
        )
    value = float(m.group(1))
    if m.group(2):
        return int(rows * value / 100.0)
    if value != int(value):
        raise ConfigError(f"--max-violations {text!r}: a count must be whole; use e.g. 100")
    return int(value)


def infer_command(
    source: str | Path,
    output: Path | None = None,
    *,
    exclude: Sequence[str] = (),
    console: Console | None = None,
    engine: Any = None,
) -> int:
    """``suture infer DATA [-o schema.toml]``: write a commented contract for review.

    ``source`` is a data file (profiled now) or a ``.profile`` file written earlier;
    ``exclude`` leaves columns out of either.  Without ``output`` the contract is
    printed raw (valid TOML whatever the terminal width or pipe); with it, the file is
    written atomically (complete or not at all).
    """
    out = _console(console)
    try:
        from suture.bundle import check_output, write_bytes_atomic
        from suture.profile import Profile, profile
        from suture.schema.contract import Schema

        if output is not None:
            check_output(output)
        path = Path(source)
        if path.suffix == ".profile":
            prof = Profile.load(path)
            schema = Schema.infer(prof, source=str(source), exclude=exclude)
        else:
            prof = profile(source, exclude=list(exclude), engine=engine)
            schema = Schema.infer(prof, source=str(source))
        if output is None:
            out.file.write(schema.dumps())
            out.file.flush()
            return EXIT_OK
        write_bytes_atomic(output, schema.dumps().encode("utf-8"))
    except SutureError as exc:
        return _error(out, exc)
    held = [c for c in schema.columns if not c.feature]
    out.print(
        f"wrote {output}: {len(schema.columns)} columns from {prof.row_count:,} rows; "
        f"review it, then run suture validate DATA --schema {output}",
        markup=False,
    )
    if held:
        shown = ", ".join(f"{c.name} ({c.type})" for c in held)
        out.print(f"not model features: {shown}", markup=False)
    return EXIT_OK


def _summary_table(summary: Any) -> Table:
    table = Table(title="violations by column and kind", title_justify="left")
    table.add_column("column")
    table.add_column("kind")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    table.add_column("first example", overflow="fold")
    for column, kind, count, example in summary.table():
        share = count / summary.rows if summary.rows else 0.0
        table.add_row(column, kind, f"{count:,}", f"{share:.2%}", example)
    return table


def validate_command(
    source: str | Path,
    schema: Path,
    *,
    quarantine: Path | None = None,
    output: Path | None = None,
    max_violations: str = "0",
    engine: Any = "local",
    console: Console | None = None,
) -> int:
    """``suture validate DATA --schema schema.toml [--quarantine bad.parquet]``.

    Streams ``source``; writes quarantined rows (and, with ``output``, valid typed rows)
    to Parquet; prints a table of violations by column and kind.  Returns 1 when more
    rows were quarantined than ``max_violations`` allows (a count, or a percentage of the
    input rows such as ``"0.5%"``), 2 on a user error, else 0.  ``engine`` is "local",
    "spark" or an engine object; on Spark the outputs are Parquet folders.  The outputs
    are replaced together at the end, or on any failure not at all.
    """
    out = _console(console)
    try:
        from suture.schema.contract import Schema

        contract = Schema.load(schema)
        parse_tolerance(max_violations, 0)
        from suture.schema.run import validate_to_files

        summary = validate_to_files(
            contract, source, quarantine=quarantine, valid=output, engine=engine
        )
        allowed = parse_tolerance(max_violations, summary.rows)
    except SutureError as exc:
        return _error(out, exc)
    if summary.counts:
        out.print(_summary_table(summary))
    verdict = f"{summary.rows:,} rows: {summary.valid:,} valid, {summary.quarantined:,} quarantined"
    if quarantine is not None and summary.quarantined:
        verdict += f" (written to {quarantine})"
    out.print(verdict, markup=False)
    if summary.quarantined > allowed:
        out.print(
            f"failed: {summary.quarantined:,} quarantined rows exceed --max-violations "
            f"{max_violations} ({allowed:,} rows)",
            markup=False,
        )
        return EXIT_VIOLATIONS
    return EXIT_OK


def diff_command(old: Path, new: Path, *, console: Console | None = None) -> int:
    """``suture diff old.toml new.toml``: print what changed; 0 if nothing, 1 if so."""
    out = _console(console)
    try:
        from suture.schema.contract import Schema

        before, after = Schema.load(old), Schema.load(new)
    except SutureError as exc:
        return _error(out, exc)
    lines = before.diff(after)
    for line in lines:
        out.print(line, markup=False, highlight=False)
    return EXIT_OK if len(lines) == 1 and before == after else EXIT_VIOLATIONS
