"""The work behind ``suture compare`` and ``suture monitor``.

The options are declared in :mod:`suture.cli`; :func:`compare_command` and
:func:`monitor_command` do the work and return the exit code
(:data:`~suture.errors.EXIT_FOUND` when a column alerts or the newest period has an
anomaly).  User mistakes raise :class:`~suture.errors.SutureError` subclasses, which the
``suture`` command prints as one line and maps to exit code 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suture.errors import EXIT_FOUND, EXIT_OK, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["compare_command", "monitor_command", "parse_thresholds"]

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
    """Compare ``current`` with ``baseline``; write the JSON and HTML if asked, then print
    the table.

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
    from suture.bundle import atomic_outputs, check_output
    from suture.monitor.compare import compare as run_compare
    from suture.monitor.terminal import render_comparison

    targets = [path for path in (json_path, html_path) if path is not None]
    for path in targets:
        check_output(path)
    result = run_compare(
        baseline, current, thresholds=thresholds, columns=columns, by=by, schema=schema,
        references=list(references) if references else None, model=model,
    )  # fmt: skip
    # The files first, so that a reader of the table who goes away (a closed pipe) does
    # not cost the pipeline its JSON or HTML.
    with atomic_outputs(targets) as temporaries:
        pages = iter(temporaries)
        if json_path is not None:
            next(pages).write_bytes(result.to_json().encode("utf-8"))
        if html_path is not None:
            from suture.monitor.html import render_comparison_html

            next(pages).write_bytes(render_comparison_html(result).encode("utf-8"))
    render_comparison(result, console)
    return EXIT_FOUND if result.verdict == "alert" else EXIT_OK


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
