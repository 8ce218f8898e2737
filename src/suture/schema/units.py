"""Units of measure: one shared pint registry, with currencies as their own dimensions.

Every currency (``EUR``, ``USD``, ...) is a base dimension of its own, so ``EUR + mile``
and ``EUR + USD`` are both refused: exchange rates change daily and are data, not units.
Conversions between compatible units are affine maps ``y = scale * x + offset`` (the
offset is non-zero only for temperatures such as ``degC``), computed once per pair and
applied to whole Arrow arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from suture.errors import UnitError

__all__ = [
    "CURRENCIES",
    "Conversion",
    "UnitError",
    "UnitProblem",
    "canonical",
    "conversion",
    "dimension",
    "registry",
]

CURRENCIES = (
    "EUR",
    "USD",
    "GBP",
    "JPY",
    "CHF",
    "CNY",
    "CAD",
    "AUD",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "INR",
    "BRL",
)


UnitProblem = UnitError
"""The former name of :class:`suture.errors.UnitError` (kept importable)."""


@cache
def registry() -> Any:
    """The one pint ``UnitRegistry`` suture uses (built on first use, ~0.3 s)."""
    import pint

    ureg: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=False)
    for code in CURRENCIES:
        ureg.define(f"{code} = [currency_{code}]")
    return ureg


@lru_cache(maxsize=1024)
def _parse(text: str) -> Any:

    ureg = registry()
    try:
        return ureg.parse_units(text)
    except Exception:
        # Pint's parser fails on arbitrary text in many ways besides PintError: a record
        # sending "5 (" raises tokenize.TokenError, "5 *" an AssertionError.
        raise UnitError(
            f"unknown unit {text!r}: use a pint unit such as 'minute', 'mile', 'kg', "
            f"'mile / hour' or a currency code ({', '.join(CURRENCIES[:4])}, ...)"
        ) from None


def canonical(text: str) -> str:
    """The unit spelled the way suture writes it (``"mi/min"`` -> ``"mile / minute"``).

    Raises
    ------
    UnitError
        When pint does not know the unit.
    """
    if text.strip() in ("", "1", "dimensionless"):
        return ""
    return str(_parse(text.strip()))


def dimension(text: str) -> str:
    """The dimensionality of a unit as text (``"[length] / [time]"``); "" for none."""
    if not text:
        return ""
    dims = registry().get_dimensionality(_parse(text))
    return str(dims) if dims else ""


@dataclass(frozen=True)
class Conversion:
    """The affine map from one unit to a compatible one: ``y = scale * x + offset``."""

    scale: float
    offset: float

    @property
    def identity(self) -> bool:
        """Whether the conversion changes nothing."""
        return self.scale == 1.0 and self.offset == 0.0

    def __call__(self, value: float) -> float:
        return self.scale * value + self.offset


@lru_cache(maxsize=1024)
def conversion(source: str, target: str) -> Conversion:
    """How to convert numbers in ``source`` units to ``target`` units.

    Raises
    ------
    UnitError
        When either unit is unknown or their dimensions differ.
    """
    import pint

    if canonical(source) == canonical(target):
        return Conversion(1.0, 0.0)
    ureg = registry()
    src, dst = (
        _parse(source) if source else ureg.dimensionless,
        (_parse(target) if target else ureg.dimensionless),
    )
    try:
        zero = float(ureg.Quantity(0.0, src).to(dst).magnitude)
        one = float(ureg.Quantity(1.0, src).to(dst).magnitude)
    except pint.errors.PintError:
        raise UnitError(
            f"cannot convert {_name(source)} ({dimension(source) or 'no dimension'}) to "
            f"{_name(target)} ({dimension(target) or 'no dimension'})"
        ) from None
    return Conversion(one - zero, zero)


def _name(unit: str) -> str:
    return repr(unit) if unit else "a plain number"
