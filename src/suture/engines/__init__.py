"""Engines run aggregators over sources: in this process (and its workers) or on Spark.

Every engine implements :class:`~suture.engines.base.Engine`: ``schema_of``,
``describe``, ``aggregate(source, aggregator)``, ``aggregate_state`` and
``map_batches(source, fn, schema=..., sink=...)``; nothing else in suture knows which
engine ran.  :func:`resolve_engine` turns an ``engine=`` argument into an engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suture.engines.base import BatchFn, Engine, Progress, Sink
from suture.engines.local import LocalEngine
from suture.errors import ConfigError

if TYPE_CHECKING:
    from suture.engines.spark import SparkEngine

__all__ = ["BatchFn", "Engine", "LocalEngine", "Progress", "Sink", "SparkEngine", "resolve_engine"]


def __getattr__(name: str) -> Any:
    if name == "SparkEngine":  # imported on first use: pyspark is heavy
        from suture.engines.spark import SparkEngine

        return SparkEngine
    raise AttributeError(f"module 'suture.engines' has no attribute {name!r}")


def is_spark_frame(obj: Any) -> bool:
    """Whether ``obj`` is a Spark DataFrame (without importing pyspark)."""
    return type(obj).__module__.startswith("pyspark.sql") and hasattr(obj, "mapInArrow")


_is_spark_frame = is_spark_frame  # the name callers used before
# What a caller that only aggregates needs of an engine (an engine of an older protocol).
_AGGREGATING = ("schema_of", "describe", "aggregate_state")


def resolve_engine(engine: str | Engine | None, source: Any = None) -> Engine:
    """The engine for an ``engine=`` argument.

    Parameters
    ----------
    engine : {"local", "spark"}, Engine or None
        ``None`` picks Spark for a Spark DataFrame ``source`` and the local engine for
        anything else; ``"local"`` and ``"spark"`` make a default engine of that kind; an
        engine object is used as it is.
    source : optional
        What will be read (only looked at when ``engine`` is None).

    Raises
    ------
    ConfigError
        For an unknown engine name, an object that is not an engine, or ``"local"``
        with a Spark DataFrame.
    """
    if engine is None:
        engine = "spark" if is_spark_frame(source) else "local"
    if isinstance(engine, str):
        if engine == "local" and is_spark_frame(source):
            raise ConfigError(
                "a Spark DataFrame runs on the Spark engine: pass engine='spark' or leave "
                "engine out (or convert it with toPandas() or toArrow() for the local engine)"
            )
        if engine == "local":
            return LocalEngine()
        if engine == "spark":
            from suture.engines.spark import SparkEngine

            spark: Engine = SparkEngine()
            return spark
        raise ConfigError(f"unknown engine {engine!r}; use local or spark")
    if isinstance(engine, Engine) or all(hasattr(engine, m) for m in _AGGREGATING):
        return engine
    raise ConfigError(
        f"engine must be 'local', 'spark' or an engine object (LocalEngine, SparkEngine), "
        f"not a {type(engine).__name__}"
    )
