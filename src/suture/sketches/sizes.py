"""The one place that names the sketch sizes and their allowed ranges.

Every default in suture (profiles, the command line, the sketches, the docs) refers to
these names.

=====================  =======  =========================================================
name                   default  meaning
=====================  =======  =========================================================
``DEFAULT_K``          1024     KLL quantiles: rank error 0.27% (99% confidence)
``DEFAULT_LG_K``       12       HyperLogLog distinct counts: 2**12 registers, about ±1.6%
                                relative standard error (±3.3% at two standard deviations)
``DEFAULT_LG_MAX_MAP`` 11       frequent items: exact while a column has at most
                                0.75 * 2**11 = 1,536 distinct values
=====================  =======  =========================================================
"""

from __future__ import annotations

from suture.errors import ConfigError

__all__ = [
    "DEFAULT_K",
    "DEFAULT_LG_K",
    "DEFAULT_LG_MAX_MAP",
    "MAX_K",
    "MAX_LG_K",
    "MAX_LG_MAX_MAP",
    "MIN_K",
    "MIN_LG_K",
    "MIN_LG_MAX_MAP",
    "check_k",
    "check_lg_k",
    "check_lg_max_map",
]

DEFAULT_K = 1024
MIN_K, MAX_K = 8, 65_535  # DataSketches' KLL limits

DEFAULT_LG_K = 12
MIN_LG_K, MAX_LG_K = 4, 21  # DataSketches' HLL limits

DEFAULT_LG_MAX_MAP = 11
MIN_LG_MAX_MAP, MAX_LG_MAX_MAP = 3, 26


def _check(name: str, what: str, value: object, low: int, high: int, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{name} ({what}) must be a whole number from {low} to {high}, got {value!r}; "
            f"the default is {default}"
        )
    return value


def check_k(k: object) -> int:
    """``k`` if it is a valid KLL size, else :class:`~suture.errors.ConfigError`."""
    return _check("k", "the quantile sketch size", k, MIN_K, MAX_K, DEFAULT_K)


def check_lg_k(lg_k: object) -> int:
    """``lg_k`` if it is a valid HyperLogLog size, else :class:`~suture.errors.ConfigError`."""
    return _check("lg_k", "log2 of the distinct-count registers", lg_k, MIN_LG_K, MAX_LG_K,
                  DEFAULT_LG_K)  # fmt: skip


def check_lg_max_map(lg_max_map: object) -> int:
    """``lg_max_map`` if it is a valid frequent-items size, else ``ConfigError``."""
    return _check("lg_max_map", "log2 of the frequent-items map", lg_max_map, MIN_LG_MAX_MAP,
                  MAX_LG_MAX_MAP, DEFAULT_LG_MAX_MAP)  # fmt: skip
