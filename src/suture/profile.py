"""Profile: per-column summaries of a table, computed in one pass; save, load, merge."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from suture import __version__
from suture._codec import unpack
from suture.aggregate import Columns, Joined, RowCount, merge_all
from suture.bundle import PROFILE, Bundle, created_now, write_bytes_atomic
from suture.errors import ConfigError, CorruptStateError, IncompatibleMergeError, SourceError
from suture.sketches import CoMoments, Correlation, is_numeric, sketch_for
from suture.sketches._base import ColumnSummary
from suture.sketches.categorical import StringSummary
from suture.sketches.numeric import NumericSummary
from suture.sketches.sizes import (
    DEFAULT_K,
    DEFAULT_LG_K,
    DEFAULT_LG_MAX_MAP,
    check_k,
    check_lg_k,
    check_lg_max_map,
)

__all__ = ["Profile", "ProfileAggregator"]

PROFILE_MAGIC = PROFILE.magic
#: 1: the whole image one packed record (before :mod:`suture.bundle`); 2: a bundle file.
PROFILE_FORMAT = 2
MAX_CORRELATED_COLUMNS = 64


class ProfileAggregator(Joined):
    """The aggregator behind a profile: row count, one sketch per column, co-moments.

    Parameters
    ----------
    schema : pyarrow.Schema
        The columns to summarize; each gets :func:`suture.sketches.sketch_for`'s sketch.
    k, lg_k, lg_max_map : int
        Sketch sizes (see :class:`suture.sketches.NumericSketch` and friends).
    max_correlated : int, default 64
        Co-moments are kept for at most this many numeric columns (the first ones), since
        their cost grows with the square of the count.
    """

    # The co-moments are matrix products: they run beside the column sketches when the
    # engine lends a helper thread.
    concurrent_parts = ("correlation",)
    # String columns may come as dictionary arrays (as Parquet stores them): counting
    # their values then needs no hashing.
    reads_dictionaries = True

    def __init__(
        self,
        schema: pa.Schema,
        *,
        k: int = DEFAULT_K,
        lg_k: int = DEFAULT_LG_K,
        lg_max_map: int = DEFAULT_LG_MAX_MAP,
        max_correlated: int = MAX_CORRELATED_COLUMNS,
    ) -> None:
        if isinstance(max_correlated, bool) or not isinstance(max_correlated, int):
            raise ConfigError(f"max_correlated must be a whole number, got {max_correlated!r}")
        if max_correlated < 0:
            raise ConfigError(
                f"max_correlated must be 0 or more (0 keeps no correlations), got {max_correlated}"
            )
        self.schema = schema
        self.options = {"k": check_k(k), "lg_k": check_lg_k(lg_k),
                        "lg_max_map": check_lg_max_map(lg_max_map)}  # fmt: skip
        self.max_correlated = max_correlated
        sketches = {f.name: sketch_for(f, **self.options) for f in schema}
        numeric = [f.name for f in schema if is_numeric(_value_type(f.type))]
        super().__init__(
            {
                "rows": RowCount(),
                "columns": Columns(sketches),
                "correlation": CoMoments(numeric[:max_correlated]),
            }
        )

    def finalize(self, state: dict[str, Any]) -> Profile:
        return Profile(self, state)


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


class Profile(Mapping[str, ColumnSummary]):
    """Per-column summaries of a table, mergeable with profiles of other parts of it.

    A profile is a mapping of column name to summary: ``profile["dep_delay"]`` is a
    :class:`~suture.sketches.NumericSummary` (or string, boolean, temporal, set summary)
    with ``.count`` (rows, nulls included), ``.nulls``, ``.quantile(q)``,
    ``.distinct()``, ``.top(k)``, ``.mean``, ``.std`` and so on.

    Attributes
    ----------
    row_count : int
    schema : pyarrow.Schema
    correlation : Correlation
        Pairwise Pearson correlations of the numeric columns.
    metadata : dict
        ``source``, ``created``, ``suture_version``, ``engine``.
    """

    def __init__(
        self,
        aggregator: ProfileAggregator,
        state: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.aggregator = aggregator
        self.state = state
        self.metadata: dict[str, Any] = {
            "suture_version": __version__,
            "created": created_now(),
            **(metadata or {}),
        }
        results = aggregator.finalize_parts(state)
        self.row_count: int = results["rows"]
        self.correlation: Correlation = results["correlation"]
        self._columns: dict[str, ColumnSummary] = results["columns"]
        for f in aggregator.schema:
            summary = self._columns[f.name]
            summary.name = f.name
            summary.arrow_type = f.type
            summary.hints, summary.parse_failures = infer_hints(summary)

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the profiled table."""
        return self.aggregator.schema

    def __getitem__(self, name: str) -> ColumnSummary:
        try:
            return self._columns[name]
        except KeyError:
            known = ", ".join(self._columns) or "none"
            raise KeyError(f"no column {name!r} in this profile; columns are: {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return f"<Profile {self.row_count:,} rows × {len(self)} columns>"

    @staticmethod
    def merge(a: Profile, b: Profile) -> Profile:
        """The profile of the union of the tables behind ``a`` and ``b``.

        Neither argument is modified.  Raises :class:`IncompatibleMergeError` when the
        columns, their types or the sketch sizes differ.
        """
        _check_mergeable(a, b)
        agg = a.aggregator
        merged = merge_all(agg, [a.state, b.state])
        sources = [a.metadata.get("source"), b.metadata.get("source")]
        return Profile(agg, merged, {"source": " + ".join(str(s) for s in sources if s)})

    def to_bytes(self) -> bytes:
        """The portable image of the profile, as :meth:`save` writes it.

        A :mod:`suture.bundle` single file (format 2): the parts ``schema.arrow`` (the
        Arrow schema) and ``state.bin`` (the aggregator's framed state); the sketch sizes
        and this profile's :attr:`metadata` in the manifest.  The same state and metadata
        always give the same bytes (``created`` is the profile's own creation time).
        """
        metadata = {k: str(v) for k, v in self.metadata.items() if k != "created"}
        return Bundle.encode(
            PROFILE,
            PROFILE_FORMAT,
            {
                "schema.arrow": self.schema.serialize().to_pybytes(),
                "state.bin": self.aggregator.to_bytes(self.state),
            },
            {
                "options": dict(self.aggregator.options),
                "max_correlated": self.aggregator.max_correlated,
                "profile": metadata,
            },
            created=str(self.metadata.get("created", "")) or None,
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "profile") -> Profile:
        """Read a profile image of any format so far; ``name`` is used in error messages."""
        return cls._from_bundle(Bundle.decode(data, PROFILE, PROFILE_FORMAT, name=name))

    @classmethod
    def _from_bundle(cls, bundle: Bundle) -> Profile:
        try:
            if bundle.legacy:  # format 1: the whole body one packed record
                fields = unpack(bundle.part("body"), "profile")
                schema_bytes, state = fields["schema"], fields["state"]
                options, max_correlated = fields["options"], fields["max_correlated"]
                metadata = dict(fields["metadata"])
            else:
                bundle.expect(("schema.arrow", "state.bin"))
                schema_bytes, state = bundle.part("schema.arrow"), bundle.part("state.bin")
                meta = bundle.metadata
                options, max_correlated = dict(meta["options"]), int(meta["max_correlated"])
                metadata = {**meta["profile"], "created": bundle.created}
            schema = ipc.read_schema(pa.py_buffer(schema_bytes))
        except CorruptStateError:
            raise
        except (KeyError, TypeError, ValueError, pa.ArrowException) as exc:
            raise CorruptStateError(
                f"{bundle.path}: not a readable profile of format {bundle.version} "
                f"({type(exc).__name__}: {exc}); re-create it with {PROFILE.command}"
            ) from None
        aggregator = ProfileAggregator(schema, **options, max_correlated=max_correlated)
        return cls(aggregator, aggregator.from_bytes(state), metadata)

    def save(self, path: str | Path) -> Path:
        """Write the profile to ``path`` (conventionally ``*.profile``) atomically.

        The file appears complete or not at all; on any failure an existing file of the
        same name is left as it was (see :func:`suture.bundle.atomic_outputs`).
        """
        return write_bytes_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read a profile written by :meth:`save` (any format so far), verifying it.

        Raises
        ------
        CorruptStateError
            For an empty file, a file that is not a profile (wrong magic bytes) or a
            damaged one, each saying to re-create it with ``suture profile``.
        SourceError
            For a missing or unreadable path, or an artifact of another kind.
        """
        _check_head(Path(path))
        return cls._from_bundle(Bundle.read(path, PROFILE, PROFILE_FORMAT))


def _check_head(path: Path) -> None:
    """Refuse an empty file, or one that no suture artifact opens with, saying what to do."""
    from suture._manifest import other_kind

    try:
        if not path.is_file():
            return  # a folder, a missing path: Bundle.read says what is wrong
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return
    fix = f"re-create it with `suture profile DATA -o {path}`"
    if not head:
        raise CorruptStateError(f"{path} is empty (0 bytes), not a suture profile; {fix}")
    if head != PROFILE.magic and other_kind(head) is None:
        raise CorruptStateError(f"{path} is not a suture profile (wrong magic bytes); {fix}")


def _check_mergeable(a: Profile, b: Profile) -> None:
    if a.aggregator.options != b.aggregator.options:
        raise IncompatibleMergeError(
            f"cannot merge profiles made with sketch sizes {a.aggregator.options} and "
            f"{b.aggregator.options}: re-profile with the same sizes"
        )
    left = {f.name: f.type for f in a.schema}
    right = {f.name: f.type for f in b.schema}
    if list(left) != list(right):
        missing = sorted(set(left) ^ set(right))
        raise IncompatibleMergeError(
            f"cannot merge profiles with different columns (differ in: {', '.join(missing)}); "
            "profile the same columns on both sides"
        )
    for name, t in left.items():
        if right[name] != t:
            raise IncompatibleMergeError(
                f"cannot merge profiles: column {name!r} is {t} in one and {right[name]} "
                "in the other; cast it to one type before profiling"
            )
    if a.correlation.columns != b.correlation.columns:
        raise IncompatibleMergeError(
            f"cannot merge profiles that correlate {len(a.correlation.columns)} and "
            f"{len(b.correlation.columns)} numeric columns: re-profile with the same "
            "max_correlated"
        )


def infer_hints(summary: ColumnSummary) -> tuple[tuple[str, ...], int]:
    """Semantic hints of a column and, for strings that look typed, the parse failures."""
    present = summary.count - summary.nulls
    if present == 0:
        return ("empty",), 0
    distinct = float(summary.distinct()) if hasattr(summary, "distinct") else 0.0
    hints: list[str] = []
    failures = 0
    if distinct <= 1.0 + 1e-9:
        hints.append("constant")
    if summary.kind in ("boolean", "temporal", "set"):
        hints.append({"boolean": "boolean", "temporal": "timestamp", "set": "set"}[summary.kind])
    elif isinstance(summary, NumericSummary):
        hints.append("numeric")
        if summary.all_integers and present >= 20 and distinct >= 0.95 * present:
            hints.append("identifier")
        elif summary.all_integers and distinct <= 20:
            hints.append("categorical")
    elif isinstance(summary, StringSummary):
        hints += _string_hints(summary, present, distinct)
        for kind in ("numeric", "boolean", "timestamp"):
            if kind in hints:
                failures = present - summary.looks_like(kind)
    return tuple(dict.fromkeys(hints)), failures


def _string_hints(s: StringSummary, present: int, distinct: float) -> Sequence[str]:
    for kind in ("boolean", "numeric", "timestamp"):
        if s.looks_like(kind) >= 0.95 * present:
            return [kind]
    if present >= 20 and distinct >= 0.95 * present:
        if s.looks_like("spaced") >= 0.5 * present and s.mean_length >= 20:
            return ["free_text"]
        return ["identifier"]
    if s.looks_like("spaced") >= 0.5 * present and s.mean_length >= 30:
        return ["free_text"]
    return ["categorical"]


def profile(
    source: Any,
    *,
    engine: Any = None,
    exclude: Sequence[str] = (),
    k: int = DEFAULT_K,
    lg_k: int = DEFAULT_LG_K,
    lg_max_map: int = DEFAULT_LG_MAX_MAP,
    max_correlated: int = MAX_CORRELATED_COLUMNS,
    progress: Any = None,
) -> Profile:
    """Summarize a table in one streaming pass.

    Parameters
    ----------
    source : path, pyarrow Table/Dataset/RecordBatchReader, pandas/polars/Spark DataFrame
        What to profile.  A Spark DataFrame is profiled on Spark.
    engine : {"local", "spark"} or engine object, optional
        Where to run; default local, or Spark for a Spark DataFrame.
    exclude : sequence of str
        Columns to leave out (for example a column of an unsupported type).
    k, lg_k, lg_max_map : int
        Sizes of the quantile, distinct-count and frequent-item sketches.
    max_correlated : int, default 64
        Keep co-moments (the correlation matrix) of at most this many numeric columns,
        the first ones; ``0`` keeps none.  Their cost grows with the square of the count.
    progress : callable, optional
        Called with the row count of each batch as it is read (local engine).

    Returns
    -------
    Profile

    Raises
    ------
    SourceError, UnsupportedTypeError, SutureError
        For a missing or unreadable source, or a column that cannot be summarized.
    """
    from suture.engines import resolve_engine

    runner = resolve_engine(engine, source)
    schema = runner.schema_of(source)
    missing = [name for name in exclude if name not in schema.names]
    if missing:
        raise SourceError(
            f"cannot exclude {', '.join(map(repr, missing))}: no such column; "
            f"columns are: {', '.join(schema.names)}"
        )
    kept = pa.schema([f for f in schema if f.name not in set(exclude)])
    aggregator = ProfileAggregator(
        kept, k=k, lg_k=lg_k, lg_max_map=lg_max_map, max_correlated=max_correlated
    )
    state = runner.aggregate_state(source, aggregator, columns=kept.names, progress=progress)
    return Profile(aggregator, state, {"source": runner.describe(source), "engine": runner.name})
