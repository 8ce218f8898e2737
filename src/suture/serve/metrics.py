"""The service's Prometheus metrics, the same names in every worker.

With one worker the metrics live in a private registry.  With several,
prometheus_client's multiprocess mode keeps each worker's values in the folder
``PROMETHEUS_MULTIPROC_DIR`` names (set by :func:`suture.serve.run.run` before the
workers start), and a scrape of any worker adds every worker's counters and histograms;
gauges take the largest live worker's value (drift scores) or the most recent one
(realized performance, computed from the shared archive).

Metrics
-------
``suture_requests_total{route,method,status}``
    Requests answered, by route template (``/v1/predictions/{id}``), method and status.
``suture_request_seconds{route}``
    Time from the request's arrival to its answer (buckets from 0.25 ms).
``suture_predictions_total{class}``
    Predictions by predicted class (classification).
``suture_prediction_value``
    Predicted values (regression), a histogram over the training target's range.
``suture_validation_failures_total{field,rule}``
    Broken contract rules in requests, by field and rule.
``suture_feature_drift{feature}``
    The live window's drift score per feature (refreshed on each scrape).
``suture_outcomes_total{result}``
    Outcomes received: ``matched`` or ``unknown``.
``suture_realized_{metric}``
    Realized performance over the labelled archive: ``auc``, ``accuracy``, ``brier``,
    ``ece`` (classes) or ``rmse``, ``mae`` (regression); ``outcomes`` counts the rows.
``suture_estimated_{metric}``
    Estimated performance before outcomes (binary models): the expected ``auc`` and
    ``accuracy`` from the calibrated probabilities of the archived predictions of the
    same span, labelled or not (refreshed with the realized gauges); NaN otherwise.
``suture_archive_commit_seconds``
    How long each archive write took until its commit.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics", "Totals", "quantile"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Request latency buckets (seconds): fine under 10 ms, where the service should answer.
LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
#: The realized-performance gauges ``/metrics`` shows.
REALIZED = ("auc", "accuracy", "brier", "ece", "rmse", "mae", "outcomes")
#: The estimated-performance gauges ``/metrics`` shows.
ESTIMATED = ("auc", "accuracy")


@dataclass(frozen=True)
class Totals:
    """The service's counters at one moment (every worker's, added up).

    ``latency`` holds the cumulative counts of the latency histogram, one per bound of
    :data:`LATENCY_BUCKETS` and a last one for everything.
    """

    at: float
    requests: float
    predictions: float
    invalid: float
    latency: tuple[float, ...]

    def minus(self, earlier: Totals) -> Totals:
        """What happened between ``earlier`` and this moment."""
        return Totals(
            self.at - earlier.at,
            self.requests - earlier.requests,
            self.predictions - earlier.predictions,
            self.invalid - earlier.invalid,
            tuple(a - b for a, b in zip(self.latency, earlier.latency, strict=True)),
        )


def quantile(cumulative: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (seconds) of a latency histogram's cumulative counts, linearly
    interpolated inside its bucket (None without observations; the largest bound for
    those above it)."""
    total = cumulative[-1]
    if total <= 0:
        return None
    rank = q * total
    low, below = 0.0, 0.0
    for bound, count in zip(LATENCY_BUCKETS, cumulative, strict=False):
        if count >= rank:
            inside = count - below
            share = (rank - below) / inside if inside > 0 else 1.0
            return low + share * (bound - low)
        low, below = bound, count
    return LATENCY_BUCKETS[-1]


def _unknown_gauges(
    registry: CollectorRegistry, prefix: str, doc: str, names: Iterable[str]
) -> dict[str, Gauge]:
    """One most-recent gauge a metric name, each NaN (unknown) until set."""
    gauges = {
        name: Gauge(
            prefix + name, doc.format(name), multiprocess_mode="mostrecent", registry=registry
        )
        for name in names
    }
    for gauge in gauges.values():
        gauge.set(math.nan)
    return gauges


class Metrics:
    """The metric objects of one worker, and the scrape that adds up every worker.

    Parameters
    ----------
    value_buckets : iterable of float, optional
        Buckets of the regression prediction histogram (None: no value histogram).
    """

    def __init__(self, value_buckets: Iterable[float] | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "suture_requests", "Requests answered.", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "suture_request_seconds",
            "Time to answer a request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "suture_predictions", "Predictions by predicted class.", ["class"], registry=r
        )
        self.values = (
            None
            if value_buckets is None
            else Histogram(
                "suture_prediction_value",
                "Predicted values.",
                buckets=tuple(sorted(set(value_buckets))),
                registry=r,
            )
        )
        self.invalid = Counter("suture_invalid_records", "Records refused.", registry=r)
        self.violations = Counter(
            "suture_validation_failures",
            "Broken contract rules in requests.",
            ["field", "rule"],
            registry=r,
        )
        self.drift = Gauge(
            "suture_feature_drift",
            "Drift score of each feature in the live window.",
            ["feature"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.outcomes = Counter("suture_outcomes", "Outcomes received.", ["result"], registry=r)
        # NaN, not 0, until outcomes (realized) or archived predictions (estimated) exist.
        self.realized = _unknown_gauges(
            r, "suture_realized_", "Realized {} over the labelled archive.", REALIZED
        )
        self.estimated = _unknown_gauges(
            r,
            "suture_estimated_",
            "Expected {} from the archived predictions' calibrated probabilities.",
            ESTIMATED,
        )
        self.commit = Histogram(
            "suture_archive_commit_seconds",
            "Archive write until commit.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # The labelled children met so far (``labels()`` parses its arguments and takes a
        # lock on every call; prometheus_client keeps every child anyway).
        self._answered: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._classes: dict[str, Counter] = {}

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        key = (route, method, status)
        children = self._answered.get(key)
        if children is None:
            children = self._answered[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def predicted(self, classes: Mapping[str, int], values: Iterable[float] = ()) -> None:
        """Count predictions: ``classes`` maps a class to how many were predicted."""
        for label, count in classes.items():
            child = self._classes.get(label)
            if child is None:
                child = self._classes[label] = self.predictions.labels(label)
            child.inc(count)
        if self.values is not None:
            for v in values:
                self.values.observe(v)

    def rejected(self, broken: Mapping[tuple[str, str], int]) -> None:
        """Count broken rules: ``(field, rule)`` to how many times."""
        for (name, rule), count in broken.items():
            self.violations.labels(name, rule).inc(count)

    def set_drift(self, scores: Mapping[str, float]) -> None:
        """The live window's per-feature drift scores."""
        for feature, score in scores.items():
            self.drift.labels(feature).set(score)

    def set_realized(self, values: Mapping[str, float]) -> None:
        """Realized performance: metric name to value (unknown names are left out)."""
        for name, value in values.items():
            gauge = self.realized.get(name)
            if gauge is not None:
                gauge.set(value)

    def set_estimated(self, values: Mapping[str, float]) -> None:
        """Estimated performance: metric name to value (unknown names are left out)."""
        for name, value in values.items():
            gauge = self.estimated.get(name)
            if gauge is not None:
                gauge.set(value)

    def _collected(self) -> CollectorRegistry:
        """This worker's registry, or one that adds up every worker's files."""
        if not self.multiprocess:
            return self.registry
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry

    def exposition(self) -> bytes:
        """The text ``/metrics`` answers: this worker's, or every worker's added up."""
        return generate_latest(self._collected())

    def totals(self) -> Totals:
        """The counters now, every worker's added up (for ``/v1/stats``)."""
        sums = {"requests": 0.0, "predictions": 0.0, "invalid": 0.0}
        names = {
            "suture_requests_total": "requests",
            "suture_predictions_total": "predictions",
            "suture_prediction_value_count": "predictions",
            "suture_invalid_records_total": "invalid",
        }
        bounds = {b: i for i, b in enumerate(LATENCY_BUCKETS)}
        latency = [0.0] * (len(LATENCY_BUCKETS) + 1)
        for family in self._collected().collect():
            for sample in family.samples:
                if sample.name in names:
                    sums[names[sample.name]] += sample.value
                elif sample.name == "suture_request_seconds_bucket":
                    le = float(sample.labels["le"])
                    latency[bounds.get(le, len(LATENCY_BUCKETS))] += sample.value
        return Totals(time.monotonic(), **sums, latency=tuple(latency))

    def close(self) -> None:
        """Forget this worker's live gauges (a worker that stops)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
