"""How text reads as a number, a boolean, a timestamp or a time of day: one definition.

The profile's hints (:mod:`suture.sketches.categorical`), the batch validator
(:mod:`suture.schema.checks`) and the single-record path (:mod:`suture.schema.coerce`)
all read text with the patterns and spellings below, so a value that the profile counts
as a timestamp is one the contract accepts, in a batch and in a record alike.

The patterns are RE2-compatible (Arrow's ``match_substring_regex`` runs them on whole
arrays) and Python-compatible (the scalar readers below use them per value).  Text is
trimmed of white space first; blank text is a missing value, not a parse failure.

Rules
-----
number
    ``[-+]digits[.digits][e[-+]digits]`` (``12``, ``-3.5``, ``.5``, ``1e3``).  No
    thousands separators: ``1,500`` is 1.5 in much of Europe and 1500 elsewhere, so it is
    refused rather than guessed.  ``nan`` and ``inf`` are not numbers.
number with a unit
    a number, optional space, then a unit that does not start with a digit, a sign, a
    point or a comma (``90 s``, ``1.5 hour``, ``32 degF``; ``1,000 km`` does not read).
boolean
    :data:`TRUE` / :data:`FALSE`, any case.  The profile's *looks boolean* hint counts the
    words only (:data:`TRUE_WORDS`, :data:`FALSE_WORDS`): a column of ``0``/``1`` looks
    numeric to the profile, while a boolean column of the contract accepts ``1``/``0``.
timestamp
    ISO 8601 ``YYYY-MM-DD``, optionally ``[T ]HH:MM[:SS[.ffffff]]`` and an offset
    (``Z``, ``+01:00``, ``+0100``) after the time.  At most six fraction digits (what a
    microsecond timestamp holds).  Without an offset it is local time in the column's
    time zone.
time of day
    ``HH:MM[:SS[.ffffff]]``, hours 00 to 23.

>>> read_number(" 12.5 ")
12.5
>>> read_number("1,500") is None
True
>>> read_boolean("Yes"), read_boolean("0"), read_boolean("maybe")
(True, False, None)
>>> read_timestamp("2013-01-01 05:00")
datetime.datetime(2013, 1, 1, 5, 0)
>>> read_time_of_day("07:30")
datetime.time(7, 30)
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "CLOCK",
    "DATE",
    "FALSE",
    "FALSE_WORDS",
    "HAS_UNIT",
    "IS_NUMBER",
    "LOOKS",
    "NUMBER",
    "NUMBER_AND_UNIT",
    "OFFSET",
    "TIMESTAMP",
    "TIMESTAMP_AWARE",
    "TIMESTAMP_NAIVE",
    "TIME_OF_DAY",
    "TRUE",
    "TRUE_WORDS",
    "UNIT",
    "UNIT_START",
    "is_blank",
    "read_boolean",
    "read_number",
    "read_number_and_unit",
    "read_quantity",
    "read_time_of_day",
    "read_timestamp",
]

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
"""A decimal number, without surrounding space (a building block of the patterns)."""
IS_NUMBER = rf"^\s*{NUMBER}\s*$"
"""Text that is a bare number."""
UNIT_START = r"[^\s\d.,+-]"
"""How a unit after a number starts: not a digit, sign, point, comma or space."""
UNIT = rf"{UNIT_START}(?:.*\S)?"
HAS_UNIT = rf"^\s*{NUMBER}\s*{UNIT_START}"
"""Text that starts with a number followed by something that can be a unit."""
NUMBER_AND_UNIT = rf"^\s*(?P<num>{NUMBER})\s*(?P<unit>{UNIT})\s*$"
"""A number and its unit, as two named groups."""

TRUE_WORDS = ("true", "t", "yes", "y")
FALSE_WORDS = ("false", "f", "no", "n")
TRUE = (*TRUE_WORDS, "1")
"""Text a boolean column reads as true (compared in lower case, trimmed)."""
FALSE = (*FALSE_WORDS, "0")
"""Text a boolean column reads as false (compared in lower case, trimmed)."""

DATE = r"\d{4}-\d{2}-\d{2}"
CLOCK = r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})"
TIMESTAMP_NAIVE = rf"^{DATE}(?:[ T]{CLOCK})?$"
"""A date or date and time without an offset (local time in the column's zone)."""
TIMESTAMP_AWARE = rf"^{DATE}[ T]{CLOCK}{OFFSET}$"
"""A date and time with an offset."""
TIMESTAMP = rf"^{DATE}(?:[ T]{CLOCK}{OFFSET}?)?$"
"""Either of the two."""
TIME_OF_DAY = rf"^{CLOCK}$"
"""A time of day."""

LOOKS = {
    "numeric": IS_NUMBER,
    "boolean": r"^\s*(?i:" + "|".join(TRUE_WORDS + FALSE_WORDS) + r")\s*$",
    "timestamp": rf"^\s*{TIMESTAMP[1:-1]}\s*$",
    "spaced": r"\s\S+\s",
}
"""What a profiled string *looks like*: the hints of :mod:`suture.sketches.categorical`."""

_NUMBER = re.compile(IS_NUMBER)
_NUMBER_AND_UNIT = re.compile(NUMBER_AND_UNIT)
_QUANTITY = re.compile(rf"^\s*(?P<num>{NUMBER})\s*(?P<unit>{UNIT})?\s*$")
_TIMESTAMP = re.compile(TIMESTAMP)
_TIME_OF_DAY = re.compile(TIME_OF_DAY)
_TRUE = frozenset(TRUE)
_FALSE = frozenset(FALSE)


def is_blank(text: str) -> bool:
    """Whether ``text`` is empty or white space only (a missing value)."""
    return not text.strip()


def read_number(text: str) -> float | None:
    """``text`` as a float when it is a bare number; None otherwise."""
    return float(text) if _NUMBER.match(text) else None


def read_number_and_unit(text: str) -> tuple[float, str] | None:
    """``(number, unit)`` when ``text`` is a number followed by a unit; None otherwise."""
    m = _NUMBER_AND_UNIT.match(text)
    return (float(m.group("num")), m.group("unit")) if m else None


def read_quantity(text: str) -> tuple[float, str] | None:
    """``(number, unit)`` for a bare number (unit "") or a number with a unit; else None.

    One match for both rules (the single-record path reads each value once).
    """
    m = _QUANTITY.match(text)
    return (float(m.group("num")), m.group("unit") or "") if m else None


def read_boolean(text: str) -> bool | None:
    """True or False for the spellings of :data:`TRUE` and :data:`FALSE`; else None."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None


def read_timestamp(text: str) -> dt.datetime | None:
    """An ISO 8601 timestamp (naive without an offset); None when it does not read.

    A date that does not exist (``2013-02-30``) does not read.
    """
    clean = text.strip()
    if not _TIMESTAMP.match(clean):
        return None
    try:
        return dt.datetime.fromisoformat(clean.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_time_of_day(text: str) -> dt.time | None:
    """An ``HH:MM[:SS[.ffffff]]`` time of day; None when it does not read (``25:00``)."""
    clean = text.strip()
    if not _TIME_OF_DAY.match(clean):
        return None
    try:
        return dt.time.fromisoformat(clean)
    except ValueError:
        return None
