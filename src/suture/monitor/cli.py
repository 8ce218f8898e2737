"""``suture compare``: the command behind :func:`suture.monitor.compare`.

:func:`compare` is a plain function with typer's parameter declarations, mounted by the
``suture`` application with ``app.command()(compare)``; :func:`compare_command` does the
work and returns the exit code (:data:`~suture.errors.EXIT_FOUND` when a column alerts).
User mistakes raise :class:`~suture.errors.SutureError` subclasses, which the ``suture``
command prints as one line and maps to exit code 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from suture.errors import EXIT_FOUND, EXIT_OK, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["compare", "compare_command", "monitor", "monitor_command", "parse_thresholds"]

_THRESHOLD_FORM = "[COLUMN:]METRIC=WATCH,ALERT (for example 'price:psi=0.2,0.4' or 'ks=0.1,0.3')"


def parse_thresholds(specs: Sequence[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """Thresholds from ``--threshold`` options, as :func:`suture.compare` takes them.

    Each spec is ``[COLUMN:]METRIC=WATCH,ALERT``; without a column it sets every column
    (``"*"``).  The last ``:`` before ``=`` separates the column, so a column name may
    itself contain ``:``.

    Raises
    ------
    ConfigError
        For a spec of another form or a value that is not a number.
    """
    result: dict[str, dict[str, tuple[float, float]]] = {}
    for spec in specs:
        target, eq, values = spec.partition("=")
        column, colon, metric = target.rpartition(":")
        parts = values.split(",")
        if not eq or not metric.strip() or len(parts) != 2 or (colon and not column):
            raise ConfigError(f"--threshold {spec!r}: expected {_THRESHOLD_FORM}")
        try:
            watch, alert = (float(p) for p in parts)
        except ValueError:
            raise ConfigError(
                f"--threshold {spec!r}: {values!r} are not two numbers; expected {_THRESHOLD_FORM}"
            ) from None
        result.setdefault(column if colon else "*", {})[metric.strip()] = (watch, alert)
    return result


def compare_command(
    baseline: str | Path,
    current: str | Path,
    *,
    json_path: str | Path | None = None,
    html_path: str | Path | None = None,
    columns: Sequence[str] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    by: str | None = None,
    schema: str | Path | None = None,
    references: Sequence[str | Path] | None = None,
    model: str | Path | None = None,
    console: Console | None = None,
) -> int:
    """Compare ``current`` with ``baseline``, print the table, write JSON if asked.

    Parameters
    ----------
    baseline, current : str or Path
        ``.profile`` files or data files (profiled on the fly).
    json_path : str or Path, optional
        Where to write :meth:`~suture.monitor.Comparison.to_json` (atomically; the path
        is checked before any profiling starts).
    html_path : str or Path, optional
        Where to write the offline HTML report (checked and written the same way).
    columns : sequence of str, optional
        Compare only these columns.
    thresholds : mapping, optional
        As :func:`suture.compare` takes them (they override the contract's).
    by, schema, references, model : optional
        As :func:`suture.compare` takes them.
    console : rich.console.Console, optional
        Where the table goes (standard output by default).

    Returns
    -------
    int
        :data:`~suture.errors.EXIT_FOUND` when any column alerts, else
        :data:`~suture.errors.EXIT_OK` (``watch`` alone does not fail a pipeline).
    """
    from suture.bundle import check_output, write_bytes_atomic
    from suture.monitor.compare import compare as run_compare
    from suture.monitor.terminal import render_comparison

    for path in (json_path, html_path):
        if path is not None:
            check_output(path)
    result = run_compare(
        baseline, current, thresholds=thresholds, columns=columns, by=by, schema=schema,
        references=list(references) if references else None, model=model,
    )  # fmt: skip
    render_comparison(result, console)
    if json_path is not None:
        write_bytes_atomic(json_path, result.to_json().encode("utf-8"))
    if html_path is not None:
        from suture.monitor.html import render_comparison_html

        write_bytes_atomic(html_path, render_comparison_html(result).encode("utf-8"))
    return EXIT_FOUND if result.verdict == "alert" else EXIT_OK


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
    """Compare two tables or profiles for drift: per column PSI, KS, JS, nulls, verdict.

    Exit code 1 when any column alerts, 0 otherwise; 2 for a usage mistake.
    """
    return compare_command(
        baseline,
        current,
        json_path=json_out,
        html_path=html_out,
        columns=column or None,
        thresholds=parse_thresholds(threshold or []),
        by=by,
        schema=schema,
        references=reference or None,
        model=model,
    )


def monitor_command(
    folder: str | Path,
    out: str | Path,
    *,
    baseline: str | None = None,
    console: Console | None = None,
) -> int:
    """Build (or extend) the timeline of the profiles in ``folder``; write it into ``out``.

    Returns
    -------
    int
        :data:`~suture.errors.EXIT_FOUND` when the newest period has an anomaly or an
        alert against the baseline, else :data:`~suture.errors.EXIT_OK`.
    """
    from rich.console import Console
    from rich.text import Text

    from suture.monitor.series import build_timeline, write_timeline

    timeline = build_timeline(folder, out, baseline=baseline)
    write_timeline(timeline, out)
    con = console if console is not None else Console()
    periods = timeline.periods
    reused = len(periods) - len(timeline.computed)
    con.print(Text(f"timeline: {len(periods)} periods ({periods[0].name} to {periods[-1].name}), "
                   f"{len(timeline.columns)} columns; {len(timeline.computed)} computed, "
                   f"{reused} from the state; baseline {timeline.baseline}"))  # fmt: skip
    for note in timeline.notes:
        con.print(Text(f"note: {note}"))
    latest = timeline.latest_anomalies()
    for a in latest:
        con.print(Text(f"  {a['period']} {a['column']}: {a['metric']} {a['value']:.4g} "
                       f"(robust z {a['z']:+.1f})", style="yellow"))  # fmt: skip
    alerts = timeline.latest_alerts()
    for a in alerts:
        con.print(Text(f"  {a['period']} {a['column']}: alert against the baseline: "
                       f"{'; '.join(a['reasons'])}", style="red"))  # fmt: skip
    con.print(Text(f"wrote {Path(out) / 'timeline.html'} and timeline.json"))
    return EXIT_FOUND if latest or alerts else EXIT_OK


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

    Periods in OUTPUT's state are reused. Each period is judged against the baseline as
    `suture compare` judges it. Exit 1 when the newest period has an anomaly or an alert.
    """
    return monitor_command(folder, output, baseline=baseline)
