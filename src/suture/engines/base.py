"""The Engine protocol: the one interface every engine implements.

An engine runs two kinds of pass over a source, and nothing else in suture knows which
engine ran them:

* ``aggregate(source, aggregator)``: fold every batch into an aggregator's state (in
  parallel parts that are merged) and return its result;
* ``map_batches(source, fn, schema=..., sink=...)``: stream every batch through ``fn``
  and write what comes out (validation with quarantine, batch scoring), fold aggregators
  over it, or hand it back as the engine's own dataset (an Arrow table locally, a lazy
  DataFrame on Spark).

Reading options (batch size, workers, CSV delimiter and encoding) are set on the engine,
not on each call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

from suture.aggregate import Aggregator

__all__ = ["BatchFn", "Engine", "Progress", "Sink"]

R = TypeVar("R")

#: Called with a number of rows as they are done.
Progress = Callable[[int], None]

#: The function of :meth:`Engine.map_batches`: one input batch and the index of its first
#: row in the whole source (for messages that name a row), to one output batch per named
#: output.  It must be a pure function of its arguments: on Spark it runs on executors.
BatchFn = Callable[[pa.RecordBatch, int], Mapping[str, pa.RecordBatch]]

#: Where :meth:`Engine.map_batches` writes each named output: a path (a Parquet file on
#: the local engine, a Parquet folder on Spark), or ``None`` not to write it.
Sink = Mapping[str, "str | Path | None"]


@runtime_checkable
class Engine(Protocol):
    """What every engine offers; ``LocalEngine``, ``SparkEngine`` and
    ``suture.testing.ShufflingEngine`` implement it with the same signatures."""

    name: str

    def schema_of(self, source: Any) -> pa.Schema:
        """The Arrow schema of the batches the engine will hand to aggregators."""
        ...

    def describe(self, source: Any) -> str:
        """A short name of ``source`` for reports and messages."""
        ...

    def aggregate(
        self,
        source: Any,
        aggregator: Aggregator[Any, R],
        *,
        columns: list[str] | None = None,
        progress: Progress | None = None,
    ) -> R:
        """Fold every batch of ``source`` into ``aggregator`` and return its result."""
        ...

    def aggregate_state(
        self,
        source: Any,
        aggregator: Aggregator[Any, Any],
        *,
        columns: list[str] | None = None,
        progress: Progress | None = None,
    ) -> Any:
        """Like :meth:`aggregate` but return the merged state, not its result."""
        ...

    def map_batches(
        self,
        source: Any,
        fn: BatchFn,
        *,
        schema: Mapping[str, pa.Schema],
        sink: Sink | None = None,
        aggregators: Mapping[str, Aggregator[Any, Any]] | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Stream every batch of ``source`` through ``fn`` and write its outputs.

        Parameters
        ----------
        source
            Anything the engine reads.
        fn : BatchFn
            ``fn(batch, first_row)`` returns one batch per output name of ``schema``;
            ``first_row`` is the index, in the whole source as the engine reads it, of the
            batch's first row.  It may run on several threads or machines at once and out
            of order: it must be a pure function of its arguments (and picklable).
        schema : mapping of str to pyarrow.Schema
            The schema of each named output (a returned batch of other physical types is
            cast to it).
        sink : mapping of str to path or None, optional
            Where each output goes; a name mapped to ``None`` (or absent) is not written
            (see Returns for what happens to it instead).
            All of them are written atomically together
            (:func:`suture.bundle.atomic_outputs`): on any failure, a read error late in
            the source included, no output is replaced and no temporary remains.
        aggregators : mapping of str to Aggregator, optional
            Output name to an aggregator folded, in the same pass, over that output's
            batches (an output that is only aggregated needs no sink), e.g. a validation
            summary over a small per-batch "counts" output.
        progress : callable, optional
            Called with the number of input rows done.

        Returns
        -------
        dict
            By output name: the result of each aggregator; and, for every output of
            ``schema`` that has neither a sink path nor an aggregator, the engine's
            native dataset of that output, in input order: a ``pyarrow.Table`` (collected
            in memory) on ``LocalEngine`` and ``ShufflingEngine``, a lazy Spark DataFrame
            on ``SparkEngine`` (nothing runs until it is computed; it reruns ``fn`` with
            the same ``first_row`` numbering each time).  An output written to a sink
            and not aggregated is not returned; one that is not wanted at all is left
            out of ``schema``.
        """
        ...


def iterate_outputs(
    batches: Iterator[Mapping[str, pa.RecordBatch]], name: str
) -> Iterator[pa.RecordBatch]:
    """The batches of one named output of a stream of ``fn`` results."""
    for outputs in batches:
        yield outputs[name]
