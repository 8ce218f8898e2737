"""Engines run aggregators over sources: in this process (and its workers) or on Spark.

Both implement ``aggregate(source, aggregator) -> result`` (plus ``aggregate_state``,
``schema_of`` and ``describe``); nothing else in suture knows which engine ran.
"""

from __future__ import annotations

from typing import Any

from suture.engines.local import LocalEngine

__all__ = ["LocalEngine", "resolve_engine"]


def _is_spark_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyspark.sql") and hasattr(obj, "mapInArrow")


def resolve_engine(engine: Any, source: Any) -> Any:
    """The engine object for an ``engine`` argument (None, "local", "spark" or an engine)."""
    if engine is None:
        engine = "spark" if _is_spark_frame(source) else "local"
    if engine == "local":
        return LocalEngine()
    if engine == "spark":
        from suture.engines.spark import SparkEngine

        return SparkEngine()
    return engine
