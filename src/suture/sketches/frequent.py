"""Frequent items with Apache DataSketches, fed pre-counted batches.

A batch is counted first with Arrow (``value_counts``, vectorized); the sketch then takes
one weighted update per *distinct* value.  When a batch has far more distinct values than
the sketch can hold, the batch counts are reduced first the way Misra-Gries reduces its
counters: the (capacity+1)-th largest count is subtracted from every count, and that
amount is added to an extra error offset.  Every true count stays within
``[lower, upper + offset]``, and offsets add under merge, so the bounds remain guaranteed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import datasketches as dsk
import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError, IncompatibleMergeError
from suture.sketches.estimate import Estimate
from suture.sketches.sizes import DEFAULT_LG_MAX_MAP, check_lg_max_map

__all__ = ["DEFAULT_LG_MAX_MAP", "FrequentItem", "FrequentItems", "check_top"]

_NO_FALSE_NEGATIVES = dsk.frequent_items_error_type.NO_FALSE_NEGATIVES


def check_top(k: object) -> int:
    """``k`` if it is a valid number of top values to list, else ``ConfigError``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError(f"k (how many top values) must be a whole number of 0 or more, got {k!r}")
    return k


@dataclass(frozen=True)
class FrequentItem:
    """A value and its estimated count (deterministic bounds)."""

    value: str
    count: Estimate[float]


@dataclass
class FrequentItems:
    """A DataSketches frequent-strings sketch plus the offset of batch-level reductions."""

    lg_max_map: int = DEFAULT_LG_MAX_MAP
    sketch: dsk.frequent_strings_sketch = field(default=None)
    offset: int = 0

    def __post_init__(self) -> None:
        check_lg_max_map(self.lg_max_map)
        if self.sketch is None:
            self.sketch = dsk.frequent_strings_sketch(self.lg_max_map)

    @property
    def capacity(self) -> int:
        """How many items the sketch tracks before it starts to forget."""
        return (3 << self.lg_max_map) // 4

    def update_counts(self, values: list[str], counts: npt.NDArray[np.int64]) -> None:
        """Add pre-counted distinct ``values`` with their ``counts``."""
        limit = 2 * self.capacity
        if len(values) > limit:
            order = np.argpartition(-counts, limit)
            cut = int(counts[order[limit]])
            keep = order[:limit]
            self.offset += cut
            kept = counts[keep] - cut
            positive = kept > 0
            chosen = keep[positive]
            values = [values[i] for i in chosen.tolist()]
            counts = kept[positive]
        for value, count in zip(values, counts.tolist(), strict=True):
            self.sketch.update(value, count)

    def merge(self, other: FrequentItems) -> FrequentItems:
        """Merge ``other`` into this one and return it."""
        if other.lg_max_map != self.lg_max_map:
            raise IncompatibleMergeError(
                f"cannot merge frequent items(lg_max_map={self.lg_max_map}) with "
                f"frequent items(lg_max_map={other.lg_max_map}): the map sizes must match; "
                "re-profile with the same setting"
            )
        if not other.sketch.is_empty():
            self.sketch.merge(other.sketch)
        self.offset += other.offset
        return self

    @property
    def max_error(self) -> int:
        """The largest amount by which any reported count can differ from the truth."""
        return self._sketch_error() + self.offset

    @property
    def distinct(self) -> int | None:
        """How many distinct values were counted, while the sketch still holds every one.

        ``None`` once it has had to forget some (a purge of the map, or a batch reduced
        before it reached the sketch): the count is then unknown here.
        """
        if self.offset:
            return None
        items = self.sketch.get_frequent_items(_NO_FALSE_NEGATIVES)
        if sum(int(est) for _, est, _, _ in items) != int(self.sketch.total_weight):
            return None
        return len(items)

    def _sketch_error(self) -> int:
        items = self.sketch.get_frequent_items(_NO_FALSE_NEGATIVES)
        if not items:
            return 0
        return int(max(upper - lower for _, _, lower, upper in items))

    def top(self, k: int) -> list[FrequentItem]:
        """The ``k`` most frequent values, most frequent first, with count bounds."""
        check_top(k)
        items = self.sketch.get_frequent_items(_NO_FALSE_NEGATIVES)
        # sorted(items, key)[:k] without sorting the thousands of items a sketch can hold
        first = heapq.nsmallest(k, items, key=lambda t: (-t[1], t[0]))
        return [
            FrequentItem(value, Estimate(float(est), float(lo), float(hi + self.offset), 1.0))
            for value, est, lo, hi in first
        ]

    def to_bytes(self) -> bytes:
        """The DataSketches image of the sketch (the offset is stored by the caller)."""
        return bytes(self.sketch.serialize())

    @classmethod
    def from_bytes(cls, lg_max_map: int, data: bytes, offset: int) -> FrequentItems:
        """Inverse of :meth:`to_bytes`."""
        return cls(lg_max_map, dsk.frequent_strings_sketch.deserialize(data), offset)
