"""Single-record checking (the service's hot path): ``Schema.coerce`` against pydantic v2.

    .venv/bin/python benchmarks/coerce_bench.py          # [--records 20000] [--repeat 5]

One record of 20 columns, as a scoring request sends it: 8 numbers with units (four as
bare numbers, two as text with their own unit such as ``"90 s"``, one as
``{"value": ..., "unit": ...}``, one bare in an ``input_unit`` that is converted), 2
integers with ranges, 4 categoricals with closed levels, 3 booleans (given as ``true``,
``"yes"`` and ``1``) and 3 timestamps (ISO text naive and with an offset, one
``datetime``), plus a derived column.

The peer is a pydantic v2 model with the same checks: ``Field(ge=, le=)`` ranges,
``Literal`` levels, pydantic's own bool and datetime parsing, and a ``BeforeValidator``
that converts text with a unit by a table of scale factors (pydantic has no units, so
this peer does less than suture: no unit registry, no offset units, no derived column).
Both run in this interpreter on the same records; the best of ``--repeat`` runs is
reported as microseconds per record.  The table is printed and written to
``benchmarks/results/coerce_bench.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "coerce_bench.md"

CARRIERS = ("9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA")
ORIGINS = ("EWR", "JFK", "LGA")
CABINS = ("economy", "premium", "business", "first")
CHANNELS = ("web", "app", "agent", "partner")

RECORD: dict[str, Any] = {
    "distance": 1089.0,
    "air_time": "227 min",
    "dep_delay": 12.0,
    "arr_delay": -4.0,
    "fuel": {"value": 5.2, "unit": "tonne"},
    "taxi": "14 min",
    "price": 312.5,
    "weight_kg": 41.0,
    "seats": 180,
    "flight": 1545,
    "carrier": "UA",
    "origin": "EWR",
    "cabin": "economy",
    "channel": "app",
    "direct": True,
    "refundable": "yes",
    "wifi": 1,
    "sched_dep": "2013-01-01 05:15",
    "booked": "2012-11-20T13:45:00+01:00",
    "checked_in": dt.datetime(2013, 1, 1, 3, 50, tzinfo=dt.UTC),
}


def suture_coerce() -> Callable[[dict[str, Any]], Any]:
    """``Schema.coerce`` of the 20-column contract (compiled on the first call)."""
    from suture.schema import Column, Derived, Schema

    def number(name: str, unit: str, low: float, high: float, **kw: Any) -> Column:
        return Column(name, "number", nullable=False, unit=unit, min=low, max=high, **kw)

    schema = Schema(
        [
            number("distance", "mile", 0, 5500),
            number("air_time", "minute", 0, 800),
            number("dep_delay", "minute", -200, 1500),
            number("arr_delay", "minute", -300, 1500),
            number("fuel", "kilogram", 0, 100_000),
            number("taxi", "minute", 0, 240),
            number("price", "EUR", 0, 20_000),
            number("weight_kg", "pound", 0, 300, input_unit="kilogram"),
            Column("seats", "integer", nullable=False, min=1, max=900),
            Column("flight", "integer", nullable=False, min=1, max=9999),
            Column("carrier", "categorical", nullable=False, levels=CARRIERS),
            Column("origin", "categorical", nullable=False, levels=ORIGINS),
            Column("cabin", "categorical", levels=CABINS),
            Column("channel", "categorical", levels=CHANNELS),
            Column("direct", "boolean"),
            Column("refundable", "boolean"),
            Column("wifi", "boolean"),
            Column("sched_dep", "timestamp", timezone="America/New_York"),
            Column("booked", "timestamp", timezone="UTC", min="2010-01-01", max="2030-01-01"),
            Column("checked_in", "timestamp", timezone="UTC"),
        ],
        [Derived("speed", "distance / air_time", unit="mile / hour", min=0, max=700)],
    )
    schema.coerce(RECORD)
    return schema.coerce


_MINUTES = {"min": 1.0, "minute": 1.0, "s": 1 / 60, "h": 60.0, "hour": 60.0}
_KILOGRAMS = {"kg": 1.0, "kilogram": 1.0, "tonne": 1000.0, "lb": 0.45359237}


def _with_unit(table: dict[str, float]) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if isinstance(v, str):
            number, _, unit = v.strip().partition(" ")
            return float(number) * table[unit.strip()]
        if isinstance(v, dict):
            return float(v["value"]) * table[str(v["unit"])]
        return v

    return convert


def pydantic_coerce() -> Callable[[dict[str, Any]], Any]:
    """A pydantic v2 model with the same ranges, levels, booleans and timestamps."""
    from pydantic import BaseModel, BeforeValidator, Field

    minutes = BeforeValidator(_with_unit(_MINUTES))
    kilograms = BeforeValidator(_with_unit(_KILOGRAMS))

    class Flight(BaseModel):
        distance: Annotated[float, Field(ge=0, le=5500)]
        air_time: Annotated[float, minutes, Field(ge=0, le=800)]
        dep_delay: Annotated[float, minutes, Field(ge=-200, le=1500)]
        arr_delay: Annotated[float, minutes, Field(ge=-300, le=1500)]
        fuel: Annotated[float, kilograms, Field(ge=0, le=100_000)]
        taxi: Annotated[float, minutes, Field(ge=0, le=240)]
        price: Annotated[float, Field(ge=0, le=20_000)]
        weight_kg: Annotated[float, Field(ge=0, le=300 * 0.45359237)]
        seats: Annotated[int, Field(ge=1, le=900)]
        flight: Annotated[int, Field(ge=1, le=9999)]
        carrier: Literal[CARRIERS]  # type: ignore[valid-type]
        origin: Literal[ORIGINS]  # type: ignore[valid-type]
        cabin: Literal[CABINS] | None = None  # type: ignore[valid-type]
        channel: Literal[CHANNELS] | None = None  # type: ignore[valid-type]
        direct: bool | None = None
        refundable: bool | None = None
        wifi: bool | None = None
        sched_dep: dt.datetime | None = None
        booked: Annotated[dt.datetime, Field(ge=dt.datetime(2010, 1, 1, tzinfo=dt.UTC))]
        checked_in: dt.datetime | None = None

    Flight.model_validate(RECORD)
    return Flight.model_validate


def per_record(fn: Callable[[dict[str, Any]], Any], records: int, repeat: int) -> float:
    """Best-of-``repeat`` microseconds per call of ``fn`` on :data:`RECORD`."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(records):
            fn(RECORD)
        best = min(best, (time.perf_counter() - start) / records)
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run both, print the table, write it to ``benchmarks/results/coerce_bench.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    suture_us = per_record(suture_coerce(), args.records, args.repeat)
    pydantic_us = per_record(pydantic_coerce(), args.records, args.repeat)
    lines = [
        "# coerce_bench: one 20-column record (µs per record, best of "
        f"{args.repeat} x {args.records:,})",
        "",
        f"Python {platform.python_version()} on {platform.machine()}; "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}",
        "",
        "| tool | µs per record | ratio to suture |",
        "| --- | ---: | ---: |",
        f"| suture `Schema.coerce` | {suture_us:.1f} | 1.00 |",
        f"| pydantic v2 `model_validate` | {pydantic_us:.1f} | {pydantic_us / suture_us:.2f} |",
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
