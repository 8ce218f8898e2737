"""Spark and local builds of the signatures agree exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from suture.engines import LocalEngine
from suture.engines.spark import SparkEngine
from suture.recommend import ItemSignatures, Recommender
from tests.recommend._recdata import assert_states_equal, clustered

pytestmark = pytest.mark.spark


def _frame(spark: Any, table: pa.Table, partitions: int) -> Any:
    item_type = "string" if pa.types.is_string(table.schema.field("item").type) else "long"
    schema = f"user long, item {item_type}, rating double, ts long"
    rows = list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
    return spark.createDataFrame(rows, schema=schema).repartition(partitions)


def test_spark_and_local_signatures_agree_exactly(spark: Any) -> None:
    table = clustered(users=80, items=40)
    table = table.set_column(1, "item", pa.array([f"m{i}" for i in table.column("item")]))
    agg = ItemSignatures(user="user", item="item", weight="rating", min_weight=2, num_perm=32)
    local = LocalEngine(workers=1, batch_size=50).aggregate(table, agg)
    remote = SparkEngine(spark, batch_size=37).aggregate(_frame(spark, table, 3), agg)
    assert_states_equal(remote, local)


def test_recommender_fitted_on_spark_answers_like_the_local_one(spark: Any) -> None:
    table = clustered(users=80, items=40)
    params = {"user": "user", "item": "item", "num_perm": 32, "threshold": 0.1}
    local = Recommender(**params).fit(table)
    remote = Recommender(**params).fit(_frame(spark, table, 3), engine=SparkEngine(spark))
    assert_states_equal(remote.state_, local.state_)
    np.testing.assert_array_equal(local.neighbours_.items, remote.neighbours_.items)
    assert local.recommend(1000, k=5) == remote.recommend(1000, k=5)
