"""Summary of list-valued columns (sets of items): sizes and element frequencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from suture._codec import Field
from suture.sketches import _kernels
from suture.sketches._base import ColumnSketch, ColumnSummary
from suture.sketches.categorical import StringSketch, StringState, StringSummary
from suture.sketches.numeric import NumericSketch, NumericState, NumericSummary
from suture.sketches.sizes import DEFAULT_K, DEFAULT_LG_K, DEFAULT_LG_MAX_MAP

__all__ = ["SetSketch", "SetSummary"]


@dataclass
class SetState:
    """Row counts, the sizes of the lists, and a string summary of all their elements."""

    count: int
    nulls: int
    sizes: NumericState
    elements: StringState


class SetSketch(ColumnSketch[SetState]):
    """Summarize a list column: size statistics and frequent elements.

    Notes
    -----
    Null lists are counted and skipped; an empty list has size 0.  Elements are compared
    as strings (integers and strings alike), nulls inside lists are counted by the
    element summary.  Merge laws are those of the numeric and string sketches inside.
    """

    kind = "set"

    def __init__(
        self,
        *,
        k: int = DEFAULT_K,
        lg_k: int = DEFAULT_LG_K,
        lg_max_map: int = DEFAULT_LG_MAX_MAP,
    ) -> None:
        self.sizes = NumericSketch(k=k, lg_k=lg_k)
        self.elements = StringSketch(lg_k=lg_k, lg_max_map=lg_max_map)

    def config(self) -> str:
        return f"set({self.sizes.config()},{self.elements.config()})"

    def zero(self) -> SetState:
        return SetState(0, 0, self.sizes.zero(), self.elements.zero())

    def update(self, state: SetState, array: pa.Array) -> SetState:
        state.count += len(array)
        state.nulls += array.null_count
        present = _kernels.call("drop_null", array) if array.null_count else array
        sizes = _kernels.call("list_value_length", present)
        state.sizes = self.sizes.update(state.sizes, _kernels.cast(sizes, pa.int64()))
        flat = _kernels.call("list_flatten", present)
        if len(flat):
            state.elements = self.elements.update(state.elements, flat)
        return state

    def merge(self, a: SetState, b: SetState) -> SetState:
        return SetState(
            a.count + b.count,
            a.nulls + b.nulls,
            self.sizes.merge(a.sizes, b.sizes),
            self.elements.merge(a.elements, b.elements),
        )

    def finalize(self, state: SetState) -> SetSummary:
        return SetSummary(state)

    def _fields(self, state: SetState) -> dict[str, Field]:
        return {
            "counts": np.array([state.count, state.nulls], dtype=np.int64),
            "sizes": self.sizes.to_bytes(state.sizes),
            "elements": self.elements.to_bytes(state.elements),
        }

    def _from_fields(self, fields: dict[str, Any]) -> SetState:
        count, nulls = (int(c) for c in fields["counts"])
        return SetState(
            count,
            nulls,
            self.sizes.from_bytes(fields["sizes"]),
            self.elements.from_bytes(fields["elements"]),
        )


class SetSummary(ColumnSummary):
    """What a profile knows about a list column.

    ``count`` and ``nulls`` count rows; ``sizes`` is a :class:`NumericSummary` of the list
    lengths; ``elements`` a :class:`StringSummary` of all elements, whose ``top`` and
    ``distinct`` describe the items.
    """

    kind = "set"

    def __init__(self, state: SetState) -> None:
        self.state = state
        self.sizes = NumericSummary(state.sizes)
        self.elements = StringSummary(state.elements)

    def distinct(self) -> Any:
        """Estimated number of distinct elements."""
        return self.elements.distinct()

    def top(self, k: int = 10) -> Any:
        """The most frequent elements."""
        return self.elements.top(k)
