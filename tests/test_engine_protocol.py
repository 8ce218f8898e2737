"""One engine interface: every engine has the Protocol's signatures; resolve_engine."""

from __future__ import annotations

import inspect
from pathlib import Path

import pyarrow as pa
import pytest

from suture.engines import Engine, LocalEngine, resolve_engine
from suture.engines.spark import SparkEngine
from suture.errors import ConfigError
from suture.testing import ShufflingEngine

METHODS = ("schema_of", "describe", "aggregate", "aggregate_state", "map_batches")


def parameters(method: object) -> list[tuple[str, object, object]]:
    """Names, kinds and defaults of a method's parameters, without ``self``."""
    signature = inspect.signature(method)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


@pytest.mark.parametrize("engine_class", [LocalEngine, SparkEngine, ShufflingEngine])
def test_every_engine_has_the_protocols_signatures(engine_class: type) -> None:
    for method in METHODS:
        assert parameters(getattr(engine_class, method)) == parameters(getattr(Engine, method)), (
            f"{engine_class.__name__}.{method}"
        )
    assert isinstance(vars(engine_class)["name"], str)


def test_engines_are_engines() -> None:
    # SparkEngine starts no session until it is used.
    for engine in (LocalEngine(), SparkEngine(), ShufflingEngine()):
        assert isinstance(engine, Engine), engine


def test_resolve_engine_by_name_object_or_source() -> None:
    assert isinstance(resolve_engine(None, pa.table({"x": [1]})), LocalEngine)
    assert isinstance(resolve_engine("local"), LocalEngine)
    assert isinstance(resolve_engine("spark"), SparkEngine)
    mine = LocalEngine(workers=1)
    assert resolve_engine(mine, "data.parquet") is mine


def test_an_unknown_engine_name_says_which_exist() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_engine("dask")
    assert str(info.value) == "unknown engine 'dask'; use local or spark"


def test_an_object_that_is_no_engine_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_engine(42)  # type: ignore[arg-type]
    assert str(info.value) == (
        "engine must be 'local', 'spark' or an engine object (LocalEngine, SparkEngine), not a int"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers must be a whole number of at least 1, got 0"),
        ({"batch_size": 0}, "batch_size must be a whole number of at least 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a whole number of at least 1, got 2.5"),
        ({"queue_depth": -1}, "queue_depth must be a whole number of at least 1, got -1"),
        ({"delimiter": ";;"}, "delimiter must be one character, got ';;'"),
        (
            {"encoding": "klingon"},
            "unknown encoding 'klingon'; use a Python codec name such as utf-8, latin-1 or cp1252",
        ),
    ],
)
def test_bad_local_engine_options_are_config_errors(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        LocalEngine(**options)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_reading_options_reach_the_source(tmp_path: Path) -> None:
    path = tmp_path / "semi.txt.csv"
    path.write_bytes("a|b\n1|caf\xe9\n".encode("latin-1"))
    engine = LocalEngine(delimiter="|", encoding="latin-1")
    assert engine.schema_of(path).names == ["a", "b"]
    assert engine.aggregate(path, _Strings()) == ["café"]


class _Strings:
    """Collects column b (a tiny aggregator for the test above)."""

    kind = "strings"

    def config(self) -> str:
        return "strings"

    def zero(self) -> list[str]:
        return []

    def update(self, state: list[str], batch: pa.RecordBatch) -> list[str]:
        return state + [str(v) for v in batch.column("b").to_pylist()]

    def merge(self, a: list[str], b: list[str]) -> list[str]:
        return a + b

    def finalize(self, state: list[str]) -> list[str]:
        return state

    def to_bytes(self, state: list[str]) -> bytes:
        return "\0".join(state).encode()

    def from_bytes(self, data: bytes) -> list[str]:
        return data.decode().split("\0") if data else []


@pytest.mark.spark
def test_a_spark_dataframe_goes_to_spark_and_is_refused_by_name_local(spark: object) -> None:
    frame = spark.createDataFrame([(1,)], ["x"])  # type: ignore[attr-defined]
    assert isinstance(resolve_engine(None, frame), SparkEngine)
    with pytest.raises(ConfigError) as info:
        resolve_engine("local", frame)
    assert str(info.value) == (
        "a Spark DataFrame runs on the Spark engine: pass engine='spark' or leave engine out "
        "(or convert it with toPandas() or toArrow() for the local engine)"
    )
