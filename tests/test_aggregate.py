"""The algebra: framing, configuration mismatches, products, Grouped, copies and merges."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suture._codec import fingerprint, frame, pack, unframe, unpack
from suture.aggregate import (
    Columns,
    Grouped,
    Joined,
    RowCount,
    copy_state,
    in_steps,
    merge_all,
)
from suture.errors import ConfigError, CorruptStateError, SchemaError, UnsupportedTypeError
from suture.profile import ProfileAggregator
from suture.sketches import BooleanSketch, NumericSketch, StringSketch
from suture.sketches.quantiles import kll_histogram, kll_quantile, kll_zero
from suture.testing import arrow_tables, assert_state_close


def _v1_frame(kind: str, config: str, payload: bytes) -> bytes:
    """A state frame as format version 1 wrote it (no configuration text)."""
    encoded = kind.encode()
    return struct.pack("<4sHH", b"SUTR", 1, len(encoded)) + encoded + fingerprint(config) + payload


def _table(rows: int = 5_000, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "churn": pa.array(
                rng.choice(["yes", "no"], rows).tolist(), mask=rng.random(rows) < 0.1
            ),
            "x": rng.normal(size=rows),
            "flag": rng.random(rows) < 0.5,
            "n": rng.integers(0, 4, rows),
        }
    )


# -- framing and configuration mismatches ------------------------------------------------


def test_a_state_read_under_another_configuration_names_both() -> None:
    data = NumericSketch(k=200).to_bytes(NumericSketch(k=200).zero())
    with pytest.raises(CorruptStateError) as caught:
        NumericSketch(k=1024).from_bytes(data)
    assert str(caught.value) == (
        "cannot load numeric state: written by numeric(k=200,lg_k=12), read by "
        "numeric(k=1024,lg_k=12); load it with the aggregator that wrote it"
    )


def test_long_configurations_are_shown_around_their_difference() -> None:
    wide = {f"column_{i}": NumericSketch() for i in range(30)}
    data = Columns(wide).to_bytes(Columns(wide).zero())
    other = dict(wide, column_17=NumericSketch(k=512))
    with pytest.raises(CorruptStateError) as caught:
        Columns(other).from_bytes(data)
    message = str(caught.value)
    assert "'column_17':numeric(k=1024" in message and "'column_17':numeric(k=512" in message
    assert message.count("…") == 4 and len(message) < 400


def test_format_1_states_still_load_and_say_the_configuration_differs() -> None:
    agg = RowCount()
    old = _v1_frame("row_count", "row_count", pack({"rows": 42}))
    assert agg.from_bytes(old) == 42
    foreign = _v1_frame("row_count", "row_count(x)", pack({"rows": 42}))
    digest = fingerprint("row_count(x)").hex()
    with pytest.raises(CorruptStateError) as caught:
        agg.from_bytes(foreign)
    assert str(caught.value) == (
        f"cannot load row_count state: written by a different configuration (fingerprint "
        f"{digest}), read by row_count; load it with the aggregator that wrote it"
    )


def test_format_2_frame_carries_the_configuration_text() -> None:
    data = frame("row_count", "row_count", pack({"rows": 1}))
    assert data[4:6] == (2).to_bytes(2, "little")
    assert b"row_count" in data[6:40]
    assert unpack(unframe(data, "row_count", "row_count"), "row_count") == {"rows": 1}


@pytest.mark.parametrize("cut", [5, 12, 25, 30])
def test_a_truncated_header_is_reported_as_corruption(cut: int) -> None:
    data = RowCount().to_bytes(7)
    with pytest.raises(CorruptStateError, match="possible corruption"):
        RowCount().from_bytes(data[:cut])


def test_a_state_without_its_fields_is_reported_as_corruption() -> None:
    data = frame("row_count", "row_count", pack({"lines": 3}))
    with pytest.raises(CorruptStateError, match="possible corruption: row_count state lacks"):
        RowCount().from_bytes(data)


def test_columns_keep_the_byte_image_of_their_payload() -> None:
    # Columns is now the same product as Joined: the payload is unchanged.
    agg = Columns({"x": NumericSketch(), "flag": BooleanSketch()})
    state = agg.update(agg.zero(), _table().to_batches()[0])
    expected = frame(
        "columns",
        agg.config(),
        pack({"columns": {n: a.to_bytes(state[n]) for n, a in agg.aggregators.items()}}),
    )
    assert agg.to_bytes(state) == expected
    assert agg.config() == "columns('x':numeric(k=1024,lg_k=12),'flag':boolean())"


def test_columns_name_a_missing_column() -> None:
    agg = Columns({"y": NumericSketch()})
    with pytest.raises(SchemaError, match=r"column 'y' is missing from the batch \(it has"):
        agg.update(agg.zero(), _table(10).to_batches()[0])


# -- copies and merges -----------------------------------------------------------------


def test_merge_all_modifies_none_of_its_arguments() -> None:
    table = _table()
    agg = ProfileAggregator(table.schema)
    parts = [agg.update(agg.zero(), b) for b in table.to_batches(max_chunksize=1_000)]
    before = [agg.to_bytes(p) for p in parts]
    merged = merge_all(agg, parts)
    assert [agg.to_bytes(p) for p in parts] == before
    assert merged["rows"] == 5_000
    assert merge_all(agg, [])["rows"] == 0


def test_a_copied_state_is_independent_of_its_source() -> None:
    table = _table(30_000)
    agg = NumericSketch()
    state = agg.update(agg.zero(), table.column("x").combine_chunks())
    before = agg.to_bytes(state)
    copy = copy_state(agg, state)
    copy = agg.update(copy, pa.array(np.arange(50_000.0)))
    assert agg.to_bytes(state) == before
    assert copy.count == 80_000 and state.count == 30_000


def test_a_copied_string_state_keeps_every_count_and_bound_of_a_full_sketch() -> None:
    rng = np.random.default_rng(2)
    words = pa.array(np.char.add("w", rng.zipf(1.4, 30_000).astype(str)).tolist())
    agg = StringSketch(lg_max_map=6)
    state = agg.update(agg.zero(), words)
    copy = copy_state(agg, state)
    assert state.frequent.max_error > 0  # the sketch had to forget
    assert copy.frequent.max_error == state.frequent.max_error
    assert agg.finalize(copy).top(40) == agg.finalize(state).top(40)
    assert bytes(copy.distinct) == bytes(state.distinct) and copy.distinct is not state.distinct


def test_string_merge_leaves_the_pending_dictionary_counts_of_b() -> None:
    # Regression: merge flushed b's pending dictionary counts into b's own sketches.
    agg = StringSketch()
    words = pa.array(["a", "b", "a", None, "c"] * 100).dictionary_encode()
    b = agg.update(agg.zero(), words)
    pending, counts = b.pending, b.pending_counts
    assert pending is not None and counts is not None
    counts_before = counts.copy()
    merged = agg.merge(agg.zero(), b)
    assert b.pending is pending and np.array_equal(b.pending_counts, counts_before)
    assert [(i.value, i.count.value) for i in agg.finalize(merged).top(3)] == [
        ("a", 200.0),
        ("b", 100.0),
        ("c", 100.0),
    ]


# -- Grouped ---------------------------------------------------------------------------


def test_grouped_gives_each_level_what_the_aggregator_gives_its_rows() -> None:
    table = _table()
    inner = Columns({"x": NumericSketch(), "flag": BooleanSketch()})
    grouped = Grouped("churn", inner)
    state = grouped.zero()
    for batch in table.to_batches(max_chunksize=700):
        state = grouped.update(state, batch)
    assert list(state) == ["no", "yes", None] or set(state) == {"no", "yes", None}
    for level in ("yes", "no", None):
        rows = (
            table.filter(pc.is_null(table["churn"]))
            if level is None
            else table.filter(pc.equal(table["churn"], level))
        )
        alone = inner.update(inner.zero(), rows.combine_chunks().to_batches()[0])
        assert_state_close(inner, state[level], alone)
    result = grouped.finalize(state)
    assert list(result) == [None, "no", "yes"]  # nulls first, then by value
    assert sum(r["x"].count for r in result.values()) == 5_000


@pytest.mark.parametrize(
    "key",
    [
        pa.array([True, False, None, True]),
        pa.array([3, 1, None, 3], pa.int16()),
        pa.array(["u", "v", None, "u"]).dictionary_encode(),
        pa.array(["u", "v", None, "u"], pa.large_string()),
    ],
    ids=["bool", "int", "dictionary", "large_string"],
)
def test_grouped_keys_of_every_kind_keep_their_values(key: pa.Array) -> None:
    grouped = Grouped("k", RowCount())
    batch = pa.record_batch({"k": key, "v": [1, 2, 3, 4]})
    result = grouped.finalize(grouped.update(grouped.zero(), batch))
    expected = {value: key.to_pylist().count(value) for value in key.to_pylist()}
    assert result == expected
    assert (
        grouped.finalize(
            grouped.from_bytes(grouped.to_bytes(grouped.update(grouped.zero(), batch)))
        )
        == expected
    )


def test_grouped_merge_unions_levels_without_sharing_states() -> None:
    grouped = Grouped("k", NumericSketch())
    one = pa.record_batch({"k": ["a", "a"], "v": [1.0, 2.0]})
    two = pa.record_batch({"k": ["b", "a"], "v": [3.0, 4.0]})
    grouped_v = Grouped("k", Columns({"v": NumericSketch()}))
    a = grouped_v.update(grouped_v.zero(), one)
    b = grouped_v.update(grouped_v.zero(), two)
    b_before = grouped_v.to_bytes(b)
    merged = grouped_v.merge(a, b)
    merged = grouped_v.update(merged, pa.record_batch({"k": ["b"], "v": [9.0]}))
    assert grouped_v.to_bytes(b) == b_before
    result = grouped_v.finalize(merged)
    assert result["a"]["v"].count == 3 and result["b"]["v"].count == 2
    assert grouped.finalize(grouped.zero()) == {}


def test_grouped_refuses_more_levels_than_max_levels() -> None:
    grouped = Grouped("k", RowCount(), max_levels=3)
    batch = pa.record_batch({"k": ["a", "b", "c", "d", "a"]})
    with pytest.raises(ConfigError) as caught:
        grouped.update(grouped.zero(), batch)
    assert str(caught.value) == (
        "Grouped by 'k': 4 levels, more than max_levels=3; group by a column with fewer "
        "levels or raise max_levels"
    )


def test_grouped_refuses_a_float_key() -> None:
    grouped = Grouped("x", RowCount())
    with pytest.raises(UnsupportedTypeError, match="cannot group by column 'x' of type double"):
        grouped.update(grouped.zero(), pa.record_batch({"x": [1.5]}))


def test_joined_results_are_by_part_name() -> None:
    agg = Joined({"rows": RowCount(), "x": Columns({"x": NumericSketch()})})
    result = agg.finalize(agg.update(agg.zero(), _table(100).to_batches()[0]))
    assert result["rows"] == 100 and result["x"]["x"].count == 100


# -- bad parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: NumericSketch(k=4),
            "k (the quantile sketch size) must be a whole number from 8 to 65535, got 4; "
            "the default is 1024",
        ),
        (
            lambda: NumericSketch(lg_k=30),
            "lg_k (log2 of the distinct-count registers) must be a whole number from 4 to 21, "
            "got 30; the default is 12",
        ),
        (
            lambda: StringSketch(lg_max_map=2),
            "lg_max_map (log2 of the frequent-items map) must be a whole number from 3 to 26, "
            "got 2; the default is 11",
        ),
        (
            lambda: NumericSketch(k=2.5),
            "k (the quantile sketch size) must be a whole number from 8 to 65535, got 2.5; "
            "the default is 1024",
        ),  # type: ignore[arg-type]
        (
            lambda: Grouped("k", RowCount(), max_levels=0),
            "max_levels must be a whole number of at least 1, got 0",
        ),
        (
            lambda: ProfileAggregator(pa.schema({"x": pa.float64()}), max_correlated=-1),
            "max_correlated must be 0 or more (0 keeps no correlations), got -1",
        ),
        (
            lambda: ProfileAggregator(pa.schema({}), k=0),
            "k (the quantile sketch size) must be a whole number from 8 to 65535, got 0; "
            "the default is 1024",
        ),
        (lambda: kll_quantile(kll_zero(), 1.5), "quantile rank q must be between 0 and 1, got 1.5"),
        (
            lambda: kll_quantile(kll_zero(), float("nan")),
            "quantile rank q must be between 0 and 1, got nan",
        ),
        (
            lambda: StringSketch().finalize(StringSketch().zero()).top(-1),
            "k (how many top values) must be a whole number of 0 or more, got -1",
        ),
        (
            lambda: BooleanSketch().finalize(BooleanSketch().zero()).top(-2),
            "k (how many top values) must be a whole number of 0 or more, got -2",
        ),
        (
            lambda: kll_histogram(kll_zero(), 0.0, 1.0, 0),
            "bins must be a whole number of at least 1, got 0",
        ),
    ],
    ids=[
        "k",
        "lg_k",
        "lg_max_map",
        "k_float",
        "max_levels",
        "max_correlated",
        "profile_k",
        "q",
        "q_nan",
        "top_string",
        "top_boolean",
        "bins",
    ],
)
def test_bad_parameters_raise_config_error_naming_range_and_value(build, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


# -- steps (the serving worker's drift window folds a part at a time) --------------------


class _Recorder:
    """A stepper that runs each step itself and notes that it did."""

    def __init__(self) -> None:
        self.steps = 0

    def __call__(self, step: Any) -> Any:
        self.steps += 1
        return step()


def _leaves(agg: Any) -> int:
    from suture.aggregate import _Product

    if isinstance(agg, _Product):
        return sum(_leaves(part) for part in agg._parts.values())
    return 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrow_tables(), st.integers(0, 3))
def test_a_product_updated_in_steps_has_the_state_of_one_updated_at_once(
    table: pa.Table, cuts: int
) -> None:
    agg = ProfileAggregator(table.schema)
    batches = table.combine_chunks().to_batches(max_chunksize=max(1, table.num_rows // (cuts + 1)))
    at_once, stepped, run = agg.zero(), agg.zero(), _Recorder()
    for batch in batches:
        at_once = agg.update(at_once, batch)
        with in_steps(run):
            stepped = agg.update(stepped, batch)
    assert agg.to_bytes(stepped) == agg.to_bytes(at_once)
    assert run.steps == _leaves(agg) * len(batches)


def test_steps_end_with_their_context() -> None:
    agg = Joined({"rows": RowCount(), "x": Columns({"x": NumericSketch()})})
    batch = pa.record_batch({"x": pa.array([1.0, 2.0])})
    run = _Recorder()
    with in_steps(run):
        agg.update(agg.zero(), batch)
    agg.update(agg.zero(), batch)
    assert run.steps == 2  # rows and x, once: none after the context closed
