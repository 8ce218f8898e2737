"""``suture archive export|prune|stats`` and ``suture explain ID --archive URL``.

The auditor's side of the archive: what was decided, why, and on which input; the
archive to Parquet for analysis; old records pruned.  Only typer and the standard
library load at import time; the archive loads when a command runs.  Every command
reads an *existing* archive: a SQLite path that does not exist is refused rather than
created empty.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from suture.errors import ConfigError, SourceError, UnknownIdError

if TYPE_CHECKING:
    from suture.serve.archive import SqlArchive

__all__ = ["app", "explain", "explain_text", "open_existing", "parse_since"]

app = typer.Typer(
    name="archive",
    help="Export, prune and count the audit archive of a suture serve service.",
    no_args_is_help=True,
    add_completion=False,
)

ArchiveArg = Annotated[
    str,
    typer.Argument(
        metavar="ARCHIVE", help="sqlite:///path.db, a .db file, or postgresql://user@host:port/db."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def open_existing(url: str) -> SqlArchive:
    """Open an archive that exists (a missing SQLite file is refused, not created).

    Raises
    ------
    SourceError
        When the SQLite file does not exist.
    """
    from suture.serve.archive import open_archive

    if not url.startswith(("postgresql://", "postgres://")):
        path = (
            Path(url.removeprefix("sqlite:///"))
            if "://" not in url or url.startswith("sqlite:///")
            else None
        )
        if path is not None and not path.exists():
            raise SourceError(
                f"archive {url}: no such file; give the archive a service wrote "
                "(suture serve --archive sqlite:///path.db)"
            )
    return open_archive(url)


def parse_since(text: str | None, *, now: float | None = None) -> float | None:
    """``--since``: a time span back from now (``7d``, ``12h``) or an ISO 8601 date or time
    (``2026-11-01``, ``2026-11-01T08:00:00Z``; UTC unless it names an offset)."""
    if text is None:
        return None
    from suture.serve.cli import parse_duration

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return (time.time() if now is None else now) - parse_duration("--since", text)
        except ConfigError:
            raise ConfigError(
                f"--since {text!r}: expected a time span back from now (7d, 12h, 90m) or an "
                "ISO 8601 date or time (2026-11-01, 2026-11-01T08:00:00Z)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@app.command()
def export(
    archive: ArchiveArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", "--out", help="The Parquet file to write.")
    ],
    since: Annotated[
        str | None,
        typer.Option(help="Only predictions since then: 7d, 12h, or 2026-11-01[T08:00:00Z]."),
    ] = None,
) -> None:
    """Write the archived predictions (with outcomes) to one Parquet file."""
    from suture._atomic import check_output

    start = parse_since(since)
    check_output(output)
    with open_existing(archive) as a:
        count = a.export_parquet(output, since=start)
    typer.echo(f"wrote {count:,} predictions to {output}")


@app.command()
def prune(
    archive: ArchiveArg,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Delete predictions older than this: 30d, 12h.")
    ],
) -> None:
    """Delete predictions (and their outcomes) older than a time span."""
    from suture.serve.archive import iso_time
    from suture.serve.cli import parse_duration

    cutoff = time.time() - parse_duration("--older-than", older_than)
    with open_existing(archive) as a:
        count = a.prune(cutoff)
    typer.echo(f"pruned {count:,} predictions made before {iso_time(cutoff)}")


@app.command()
def stats(archive: ArchiveArg, as_json: JsonOpt = False) -> None:
    """How much the archive holds: predictions, outcomes, workers, time span."""
    with open_existing(archive) as a:
        found = a.stats()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for name, value in found.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{name.replace('_', ' ')}: {'-' if shown in (None, '') else shown}")


def explain(
    prediction_id: Annotated[str, typer.Argument(metavar="ID", help="The prediction id.")],
    archive: Annotated[
        str, typer.Option("--archive", help="The archive: sqlite:///path.db or postgresql://...")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Show an archived decision: input, coerced values, features, output and why."""
    with open_existing(archive) as a:
        decision = a.get(prediction_id.strip())
        url = a.url
    if decision is None:
        raise UnknownIdError(
            f"no prediction {prediction_id!r} in the archive {url}; check the id a predict "
            "answer gave (suture archive stats shows what the archive holds)"
        )
    typer.echo(json.dumps(decision, indent=2) if as_json else explain_text(decision))


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _fields(mapping: dict[str, Any], indent: str = "  ") -> list[str]:
    width = max((len(k) for k in mapping), default=0)
    return [f"{indent}{k:<{width}}  {_value(v)}" for k, v in mapping.items()]


def explain_text(decision: dict[str, Any]) -> str:
    """An archived decision (:meth:`~suture.serve.archive.SqlArchive.get`) as text."""
    lines = [
        f"prediction {decision['id']}",
        f"  made      {decision['time']} by model {decision['model_version']} "
        f"(worker {decision['worker']})",
    ]
    if decision.get("key") is not None:
        lines.append(f"  key       {decision['key']}")
    lines += ["", "output", *_fields(decision["output"])]
    reasons = decision.get("explanation") or []
    if reasons:
        lines += ["", "why (the largest contributions)"]
        for r in reasons:
            unit = f" {r['unit']}" if r.get("unit") else ""
            shown = _value(r["value"]) if "value" in r else "(not archived)"
            lines.append(f"  {r['column']} = {shown}{unit}: {r['contribution']:+.4f}")
    lines += ["", "received", *_fields(decision["received"])]
    lines += ["", "coerced by the contract", *_fields(decision["coerced"])]
    names = decision.get("feature_names")
    features = decision["features"]
    if names and len(names) == len(features):
        lines += ["", "features", *_fields(dict(zip(names, features, strict=True)))]
    else:
        lines += ["", "features", f"  {json.dumps(features)}"]
    outcome = decision.get("outcome")
    lines += ["", "outcome"]
    if outcome is None:
        lines.append("  none recorded yet")
    else:
        lines.append(f"  {_value(outcome['value'])} (recorded {outcome['time']})")
    return "\n".join(lines)
