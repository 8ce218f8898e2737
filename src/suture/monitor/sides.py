"""One side of a comparison: its profile, its segments and its contract counts, in one pass.

A side given as data is read once: a :class:`~suture.profile.ProfileAggregator` (or, with
``by``, one per level of the segment column, in :class:`~suture.aggregate.Grouped`,
whose merge is the whole table's profile) and, with a contract, a
:class:`~suture.schema.summary.ValidationAggregator` run together in one
:class:`~suture.aggregate.Joined` pass.  A side given as a profile has no segments and
no contract counts: a profile keeps neither.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from suture.aggregate import Grouped, Joined, merge_all
from suture.errors import ConfigError
from suture.profile import Profile, ProfileAggregator
from suture.sketches.sizes import DEFAULT_K, DEFAULT_LG_K, DEFAULT_LG_MAX_MAP

if TYPE_CHECKING:
    from suture.schema.contract import Schema
    from suture.schema.summary import ValidationSummary

__all__ = ["MAX_SEGMENTS", "Side", "is_profile_path", "measure", "segment_label"]

#: The most levels a ``by`` column may have (each level gets a profile of its own).
MAX_SEGMENTS = 200


@dataclass(frozen=True)
class Side:
    """What one side of a comparison gave.

    Attributes
    ----------
    profile : Profile
        The whole side.
    segments : mapping of str to Profile, or None
        Profiles of each level of the ``by`` column (labelled by :func:`segment_label`);
        ``None`` without ``by``.
    validation : ValidationSummary or None
        The contract's counts over this side's rows, when a contract was given and the
        side is data.
    is_data : bool
        Whether the side was data (read here) rather than a profile.
    """

    profile: Profile
    segments: Mapping[str, Profile] | None = None
    validation: ValidationSummary | None = None
    is_data: bool = True


def is_profile_path(source: object) -> bool:
    """Whether ``source`` names a saved profile (by suffix or by its magic bytes)."""
    if not isinstance(source, str | os.PathLike):
        return False
    path = Path(source)
    if path.suffix == ".profile":
        return True
    from suture.bundle import PROFILE

    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    return PROFILE.magic is not None and head == PROFILE.magic


def segment_label(level: object) -> str:
    """The name of a segment: the level as text, ``(null)`` for missing keys."""
    if level is None:
        return "(null)"
    if isinstance(level, bool):
        return "true" if level else "false"
    return str(level)


def _check_by(by: str, schema: pa.Schema, where: str) -> None:
    if by not in schema.names:
        raise ConfigError(
            f"--by {by!r}: {where} has no such column; columns are: {', '.join(schema.names)}"
        )
    t = schema.field(by).type
    value = t.value_type if pa.types.is_dictionary(t) else t
    if not (
        pa.types.is_string(value) or pa.types.is_large_string(value) or pa.types.is_boolean(value)
    ):
        raise ConfigError(
            f"--by {by!r}: the column is {t} in {where}, not categorical; segment by a "
            "string or boolean column (or cast this one to strings first)"
        )


def measure(
    source: object,
    *,
    options: Mapping[str, int] | None = None,
    by: str | None = None,
    contract: Schema | None = None,
    role: str = "the data",
) -> Side:
    """Read one side: a profile as it is, or data in one pass (see the module notes).

    Parameters
    ----------
    source : Profile, path or data
    options : mapping, optional
        Sketch sizes ``k``, ``lg_k``, ``lg_max_map`` for data (defaults otherwise).
    by : str, optional
        The segment column (string or boolean, at most :data:`MAX_SEGMENTS` levels).
    contract : Schema, optional
        Count this side's rows that break it.
    role : str
        The side's name in messages ("the baseline", "the current side").

    Raises
    ------
    ConfigError
        When ``by`` is given for a profile, names no column, is not categorical or has
        too many levels.
    """
    if isinstance(source, Profile) or is_profile_path(source):
        if by is not None:
            raise ConfigError(
                f"--by {by!r} needs data on both sides: {role} is a saved profile, which "
                "keeps no segments; pass the data it was profiled from instead"
            )
        profile = source if isinstance(source, Profile) else Profile.load(source)  # type: ignore[arg-type]
        return Side(profile, is_data=False)
    return _read(source, dict(options or {}), by, contract, role)


def _read(
    source: object, sizes: dict[str, int], by: str | None, contract: Schema | None, role: str
) -> Side:
    from suture.engines import resolve_engine

    runner = resolve_engine(None, source)
    schema = runner.schema_of(source)
    if by is not None:
        _check_by(by, schema, role)
    agg = ProfileAggregator(
        schema,
        k=sizes.get("k", DEFAULT_K),
        lg_k=sizes.get("lg_k", DEFAULT_LG_K),
        lg_max_map=sizes.get("lg_max_map", DEFAULT_LG_MAX_MAP),
    )
    name = runner.describe(source)
    parts: dict[str, Any] = {
        "profile": agg if by is None else Grouped(by, agg, max_levels=MAX_SEGMENTS)
    }
    if contract is not None:
        from suture.schema.summary import ValidationAggregator

        parts["contract"] = ValidationAggregator(contract, schema, name)
    meta = {"source": name, "engine": runner.name}
    if by is None and contract is None:
        # The profile alone: as suture.profile runs it (dictionary strings, helper thread).
        return Side(Profile(agg, runner.aggregate_state(source, agg, columns=schema.names), meta))
    try:
        state = runner.aggregate_state(source, Joined(parts), columns=schema.names)
    except ConfigError as exc:
        if by is not None and "max_levels" in str(exc):
            raise ConfigError(
                f"--by {by!r}: more than {MAX_SEGMENTS} levels in {role}; segment by a "
                "column with fewer levels"
            ) from None
        raise
    validation = parts["contract"].finalize(state["contract"]) if contract is not None else None
    if by is None:
        return Side(Profile(agg, state["profile"], meta), None, validation)
    grouped: dict[Any, Any] = state["profile"]
    levels = sorted(grouped, key=_order)
    whole = Profile(agg, merge_all(agg, [grouped[level] for level in levels]), meta)
    segments = {
        segment_label(level): Profile(agg, grouped[level], {**meta, "segment": f"{by}={level}"})
        for level in levels
    }
    return Side(whole, segments, validation)


def _order(level: object) -> tuple[int, str]:
    return (0, "") if level is None else (1, segment_label(level))
