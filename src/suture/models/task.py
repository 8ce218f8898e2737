"""Which task a target asks for: binary, multiclass or regression, read from its summary."""

from __future__ import annotations

from suture.errors import ConfigError, SchemaError
from suture.models.base import Task, TaskKind
from suture.parsing import FALSE, TRUE
from suture.sketches import BooleanSummary, NumericSummary, StringSummary
from suture.sketches._base import ColumnSummary

__all__ = ["MAX_CLASSES", "infer_task"]

#: A target with more levels than this is not treated as classes.
MAX_CLASSES = 50
#: A whole-number target with at most this many distinct values is a class label.
MAX_INTEGER_CLASSES = 10


def _levels(summary: ColumnSummary) -> list[str]:
    """The target's levels as text, in a stable order (sorted), exact or refused."""
    if isinstance(summary, BooleanSummary):
        return sorted(item.value for item in summary.top(2))
    if isinstance(summary, StringSummary):
        distinct = summary.distinct()
        if distinct.upper > MAX_CLASSES:
            raise SchemaError(
                f"target {summary.name!r} has about {distinct.value:.0f} distinct values: "
                f"too many for classes (at most {MAX_CLASSES}); choose another target"
            )
        return sorted(str(item.value) for item in summary.top(MAX_CLASSES + 1))
    if not isinstance(summary, NumericSummary):
        raise SchemaError(f"target {summary.name!r} is {summary.kind}: it cannot be classes")
    keys = summary.state.keys
    if keys is None:
        raise SchemaError(f"target {summary.name!r} has too many values to be classes")
    return [str(int(v)) for v in sorted(keys.tolist())]


def infer_task(
    summary: ColumnSummary,
    *,
    kind: TaskKind | None = None,
    positive: str | None = None,
) -> Task:
    """The task for a target column, from its profile summary.

    A boolean or string target is binary (two levels) or multiclass; a numeric one is
    regression, unless it holds at most ten whole numbers (then classes, as text such as
    ``"0"`` and ``"1"``).  ``kind`` forces the task.  For a binary task the positive class is
    ``positive``, else ``"true"``, ``"yes"``, ``"1"`` when present, else the rarer level.

    Raises
    ------
    SchemaError
        For a target that is empty, constant, has one class, or cannot be the forced kind.
    ConfigError
        For a ``positive`` that is not one of the levels.
    """
    name = summary.name
    present = summary.count - summary.nulls
    if present == 0:
        raise SchemaError(f"target {name!r} has no values; choose a column that is filled in")
    if kind is None:
        kind = _default_kind(summary)
    if kind == "regression":
        if not isinstance(summary, NumericSummary):
            raise SchemaError(f"target {name!r} is {summary.kind}: regression needs numbers")
        if not summary.finite or summary.min == summary.max:
            raise SchemaError(
                f"target {name!r} is constant ({summary.min}): there is nothing to predict"
            )
        return Task("regression", name)
    levels = _levels(summary)
    if len(levels) < 2:
        raise SchemaError(
            f"target {name!r} has one class ({levels[0] if levels else 'none'!s}): "
            "a classifier needs at least two"
        )
    if kind == "binary" and len(levels) != 2:
        raise SchemaError(f"target {name!r} has {len(levels)} classes, not two: {levels[:10]}")
    if len(levels) > 2:
        if positive is not None:
            raise ConfigError("--positive applies to a binary target only")
        return Task("multiclass", name, tuple(levels))
    return Task("binary", name, _order_binary(summary, levels, positive))


def _default_kind(summary: ColumnSummary) -> TaskKind:
    if isinstance(summary, NumericSummary):
        keys = summary.state.keys
        whole = summary.all_integers and keys is not None and keys.size <= MAX_INTEGER_CLASSES
        if not whole:
            return "regression"
        return "binary" if keys is not None and keys.size == 2 else "multiclass"
    if isinstance(summary, BooleanSummary | StringSummary):
        distinct = summary.distinct()
        return "binary" if distinct.upper <= 2 else "multiclass"
    raise SchemaError(
        f"target {summary.name!r} is {summary.kind}: the target must be numbers, text or true/false"
    )


def _order_binary(
    summary: ColumnSummary, levels: list[str], positive: str | None
) -> tuple[str, str]:
    if positive is not None and isinstance(summary, BooleanSummary) and positive not in levels:
        # A yes/no column the contract read as true/false: --positive yes means true.
        word = positive.strip().lower()
        positive = "true" if word in TRUE else "false" if word in FALSE else positive
    if positive is not None:
        if positive not in levels:
            raise ConfigError(
                f"--positive {positive!r} is not a class of {summary.name!r}; classes are "
                f"{', '.join(map(repr, levels))}"
            )
        return (levels[1 - levels.index(positive)], positive)
    for word in ("true", "yes", "1"):
        lowered = [level.lower() for level in levels]
        if word in lowered:
            i = lowered.index(word)
            return (levels[1 - i], levels[i])
    counts = _counts(summary)
    rare = min(levels, key=lambda level: (counts.get(level, 0), level))
    return (levels[1 - levels.index(rare)], rare)


def _counts(summary: ColumnSummary) -> dict[str, int]:
    if isinstance(summary, StringSummary | BooleanSummary):
        return {str(item.value): int(item.count.value) for item in summary.top(10)}
    return {}
