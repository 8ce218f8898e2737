"""FeaturePipeline: one object builds the training matrix and every scoring row.

The pipeline is fitted from a :class:`~suture.profile.Profile` (no second pass over the
data) and has two paths with identical results:

- :meth:`FeaturePipeline.transform`: an Arrow batch to a float64 matrix, column by
  column with NumPy (never a Python loop over rows);
- :meth:`FeaturePipeline.transform_record`: one mapping to a float64 vector through a
  compiled list of per-column bounds, weights and dict lookups, the scoring service's hot
  path (no pandas, scikit-learn or pyarrow per record).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture.errors import ConfigError, CorruptStateError, NotFittedError, SchemaError
from suture.features.bins import Bins
from suture.features.dates import DateParts, _is_supported
from suture.features.hashing import Hashing
from suture.features.transforms import (
    Clip,
    Codes,
    OneHot,
    Standardize,
    Transform,
    transform_from_dict,
)
from suture.profile import Profile
from suture.sketches import StringSummary
from suture.sketches._base import ColumnSummary

if TYPE_CHECKING:
    from suture.models.base import Design, Task

__all__ = ["FORMAT", "STYLES", "FeaturePipeline"]

#: The name and version of :meth:`FeaturePipeline.to_dict`'s image.
FORMAT = "suture.features"
FORMAT_VERSION = 2
#: Versions :meth:`FeaturePipeline.from_dict` reads (1: before styles).
READS = (1, 2)
#: Hints that make :meth:`FeaturePipeline.fit` leave a column out unless it is named.
SKIPPED_HINTS = ("identifier", "free_text", "empty")
#: The pipeline styles, one per family of models.
STYLES = ("linear", "binned", "raw")
_DATES = {"linear": "cyclic", "binned": "binned", "raw": "raw"}

_F64 = npt.NDArray[np.float64]


def _whole(owner: str, name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(
            f"{owner} {name} must be a whole number of {least} or more, got {value!r}"
        )


class FeaturePipeline:
    """Transforms chosen per column from a profile, applied to batches and single records.

    Parameters
    ----------
    style : {"linear", "binned", "raw"}, default "linear"
        Which transforms each kind of column gets, for the family of models fitted on them:

        ============  =====================  ====================  ======================
        column        ``linear``             ``binned``            ``raw``
        ============  =====================  ====================  ======================
        number        :class:`Standardize`   :class:`Bins`         :class:`Clip`
                      (log for skewed
                      positives)
        string, bool  :class:`OneHot`        :class:`OneHot`       :class:`Codes`
        many levels   :class:`Hashing`       :class:`Hashing`      :class:`Codes`
        date, time    :class:`DateParts`     :class:`DateParts`    :class:`DateParts`
                      cyclic                 binned                raw
        ============  =====================  ====================  ======================

        ``linear`` suits linear and logistic regression, ``binned`` the additive
        scorecard and naive Bayes, ``raw`` trees and LightGBM (NaN marks missing; see
        ``categorical_features_``).  A string column has *many levels* when its profile
        counts more distinct values than ``max_levels``.
    n_bins : int, default 16
        Quantile bins per number (and of elapsed time) in the ``binned`` style.
    max_levels : int, default 20
        Levels kept per category (:class:`OneHot`, :class:`Codes`).
    hash_buckets : int, default 32
        Hashed features per string column with many levels.
    numeric : Transform, optional
        An (unfitted) transform cloned for every numeric column instead of the style's.
    categorical : Transform, optional
        An (unfitted) transform cloned for every string or boolean column instead of the
        style's (many levels included).

    Attributes
    ----------
    columns_ : list of str
        The input columns, in output order.
    transforms_ : dict of str to Transform
        The fitted transform of each input column.
    feature_names_ : list of str
        The output features, in output order.
    feature_columns_ : list of str
        The input column of each feature, in the order of ``feature_names_``.
    categorical_features_ : list of int
        Indices of the features that are category codes (:class:`Codes`), for LightGBM.

    Notes
    -----
    ``transform_record(r)`` equals ``transform(one_row_batch(r))[0]`` exactly
    (``np.array_equal``, with ``equal_nan=True`` for the ``raw`` style), and a batch
    transform equals the stacked transforms of its rows; the tests check both with
    Hypothesis.  In the ``linear`` and ``binned`` styles a null (or NaN) never gives a
    NaN feature: see the null policy of each transform.  In the ``raw`` style a null gives
    NaN, which trees route as missing.

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> t = pa.table({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> fp = FeaturePipeline().fit(suture.profile(t))
    >>> fp.feature_names_
    ['x', 'c=a', 'c=b', 'c=<other>']
    >>> fp.transform_record({"x": 2.0, "c": "zzz"}).tolist()
    [0.0, 0.0, 0.0, 1.0]
    >>> FeaturePipeline(style="raw").fit(suture.profile(t)).transform_record({"c": "b"})
    array([nan,  1.])
    """

    def __init__(
        self,
        *,
        style: str = "linear",
        n_bins: int = 16,
        max_levels: int = 20,
        hash_buckets: int = 32,
        numeric: Transform | None = None,
        categorical: Transform | None = None,
    ) -> None:
        self.style = style
        self.n_bins = n_bins
        self.max_levels = max_levels
        self.hash_buckets = hash_buckets
        self.numeric = numeric
        self.categorical = categorical

    def _check_params(self) -> None:
        if self.style not in STYLES:
            raise ConfigError(
                f"FeaturePipeline style must be one of {', '.join(STYLES)}, got {self.style!r}"
            )
        _whole("FeaturePipeline", "n_bins", self.n_bins, 1)
        _whole("FeaturePipeline", "max_levels", self.max_levels, 0)
        _whole("FeaturePipeline", "hash_buckets", self.hash_buckets, 1)
        for name in ("numeric", "categorical"):
            template = getattr(self, name)
            if template is not None and not isinstance(template, Transform):
                raise ConfigError(
                    f"FeaturePipeline {name} must be a transform such as Standardize() or "
                    f"OneHot(), got {template!r}"
                )

    def _template(self, summary: ColumnSummary) -> Transform | None:
        """The unfitted transform of a column of this summary (None: no feature for it)."""
        kind, style = summary.kind, self.style
        if kind == "numeric":
            if self.numeric is not None:
                return self.numeric.clone()
            if style == "binned":
                return Bins(n_bins=self.n_bins)
            return Clip() if style == "raw" else Standardize()
        if kind in ("string", "boolean"):
            if self.categorical is not None:
                return self.categorical.clone()
            if style == "raw":
                return Codes(max_levels=self.max_levels)
            many = (
                isinstance(summary, StringSummary) and float(summary.distinct()) > self.max_levels
            )
            return (
                Hashing(n_buckets=self.hash_buckets) if many else OneHot(max_levels=self.max_levels)
            )
        if kind == "temporal" and _is_supported(summary.arrow_type):
            return DateParts(encoding=_DATES[style], n_bins=self.n_bins)
        return None

    def fit(
        self, profile: Profile, columns: Sequence[str] | None = None, *, exclude: Sequence[str] = ()
    ) -> FeaturePipeline:
        """Fit one transform per column from the profile's column summaries.

        Parameters
        ----------
        profile : Profile
            The training profile.
        columns : sequence of str, optional
            The input columns, in order.  By default every numeric, string, boolean,
            timestamp and date column whose hints are none of identifier, free text or
            empty.
        exclude : sequence of str
            Columns to leave out (for example the target).

        Raises
        ------
        ConfigError
            For a bad parameter, an unknown or unsupported column, or two features of the
            same name.
        """
        self._check_params()
        names = list(profile) if columns is None else list(columns)
        unknown = [c for c in [*names, *exclude] if c not in profile]
        if unknown:
            raise ConfigError(
                f"no column {', '.join(map(repr, unknown))} in the profile; "
                f"columns are: {', '.join(profile)}"
            )
        transforms: dict[str, Transform] = {}
        for name in names:
            summary = profile[name]
            if name in exclude:
                continue
            template = self._template(summary)
            if columns is None and (template is None or set(summary.hints) & set(SKIPPED_HINTS)):
                continue
            if template is None:
                raise ConfigError(
                    f"column {name!r} is {summary.kind} ({summary.arrow_type}): features are "
                    "made from numeric, string, boolean, timestamp or date columns; leave it out"
                )
            transforms[name] = template.fit(summary)
        self._install(transforms)
        return self

    def _install(self, transforms: dict[str, Transform]) -> None:
        names = [f for t in transforms.values() for f in t.feature_names_]
        twice = sorted(f for f, n in Counter(names).items() if n > 1)
        if twice:
            raise ConfigError(f"two features would be named {', '.join(map(repr, twice))}")
        self.transforms_ = transforms
        self.columns_ = list(transforms)
        self.feature_names_ = names
        self.feature_columns_ = [c for c, t in transforms.items() for _ in t.feature_names_]
        self.categorical_features_ = [
            i for i, c in enumerate(self.feature_columns_) if isinstance(transforms[c], Codes)
        ]
        starts, at = [], 0
        for t in transforms.values():
            starts.append(at)
            at += t.n_features_
        # The compiled record path: (column, bound method, first output index).
        self._plan = [
            (c, t.transform_value, s) for (c, t), s in zip(transforms.items(), starts, strict=True)
        ]

    def _fitted(self) -> None:
        if not hasattr(self, "transforms_"):
            raise NotFittedError(
                "this FeaturePipeline is not fitted yet: call fit(profile) with the "
                "training profile first"
            )

    @property
    def n_features_(self) -> int:
        """How many features the pipeline outputs."""
        self._fitted()
        return len(self.feature_names_)

    def transform(self, batch: pa.RecordBatch | pa.Table) -> _F64:
        """The feature matrix of a batch (or table), shape ``(rows, n_features_)``, float64.

        Raises
        ------
        SchemaError
            For a missing column or one of the wrong Arrow type.
        """
        self._fitted()
        missing = [c for c in self.columns_ if c not in batch.schema.names]
        if missing:
            raise SchemaError(
                f"the batch has no column {', '.join(map(repr, missing))}, which the features need"
            )
        blocks = []
        for c, t in self.transforms_.items():
            column = batch.column(c)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            blocks.append(t.transform_array(column))
        if not blocks:
            return np.zeros((batch.num_rows, 0), dtype=np.float64)
        return np.hstack(blocks)

    def transform_record(self, record: Mapping[str, Any]) -> _F64:
        """The feature vector of one record, shape ``(n_features_,)``, float64.

        Values are as the contract's record coercion gives them: ``int``, ``float``,
        ``Decimal``, ``str``, ``bool``, ``datetime`` (``date`` for date columns) or None;
        a missing key is read as None (null).

        Raises
        ------
        RecordError
            For a value of the wrong kind (names the column).
        """
        self._fitted()
        out = [0.0] * len(self.feature_names_)
        get = record.get
        for column, write, start in self._plan:
            write(get(column), out, start)
        return np.array(out, dtype=np.float64)

    def _transform_of(self, column: str) -> Transform:
        self._fitted()
        try:
            return self.transforms_[column]
        except KeyError:
            raise ConfigError(
                f"no feature is made from column {column!r}; the pipeline's columns are: "
                f"{', '.join(self.columns_)}"
            ) from None

    def design(self, task: Task, monotone: Mapping[str, int] | None = None) -> Design:
        """The :class:`~suture.models.base.Design` of the pipeline's matrix for ``task``.

        Parameters
        ----------
        task : Task
        monotone : mapping of str to int, optional
            Declared monotone direction per input column (``1`` or ``-1``).

        Raises
        ------
        ConfigError
            For a monotone column the pipeline has no feature of, or a bad direction.
        """
        from suture.models.base import Design

        self._fitted()
        monotone = dict(monotone or {})
        for column in monotone:
            self._transform_of(column)
        return Design(task, tuple(self.feature_names_), tuple(self.feature_columns_), monotone)

    def critical_values(self, column: str) -> list[Any]:
        """Finitely many input values of ``column`` giving every output its transform has.

        The clip bounds for a clipped number (whose feature is continuous in between, so an
        additive model's contribution is extreme at one of them), a value inside each bin
        and at each edge, each level and one unseen level of a category, a string for each
        hashed bucket and sign, each combination of date parts; always None (missing).
        Used for exact robustness bounds of additive models.

        Raises
        ------
        ConfigError
            For a column the pipeline has no feature of.
        """
        return self._transform_of(column).critical_values()

    def iqr(self, column: str) -> float:
        """The interquartile range of ``column`` from the profile's quantiles.

        ``nan`` for a column that is not numeric (or in an image written before the
        quartiles were kept).

        Raises
        ------
        ConfigError
            For a column the pipeline has no feature of.
        """
        return self._transform_of(column).iqr()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe image of the fitted pipeline; floats are exact (``float.hex``)."""
        self._fitted()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "style": self.style,
            "transforms": [t.to_dict() for t in self.transforms_.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeaturePipeline:
        """The fitted pipeline of :meth:`to_dict`, transforming identically.

        Raises
        ------
        CorruptStateError
            For a foreign, damaged or newer image.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise CorruptStateError(f"not a {FORMAT} image (its format field is missing)")
        version = data.get("version")
        if version not in READS:
            raise CorruptStateError(
                f"{FORMAT} version {version!r} cannot be read by this suture, which reads "
                f"version {FORMAT_VERSION}; upgrade suture"
            )
        items = data.get("transforms")
        if not isinstance(items, list):
            raise CorruptStateError(f"{FORMAT} image has no list of transforms")
        style = data.get("style", "linear")
        if style not in STYLES:
            raise CorruptStateError(f"{FORMAT} image has an unknown style {style!r}")
        pipeline = cls(style=style)
        fitted = [transform_from_dict(item) for item in items]
        pipeline._install({t.column_: t for t in fitted})
        return pipeline
