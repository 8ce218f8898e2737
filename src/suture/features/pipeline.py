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
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture.errors import ConfigError, CorruptStateError, NotFittedError, RecordError, SchemaError
from suture.features.transforms import OneHot, Standardize, Transform, transform_from_dict
from suture.profile import Profile

__all__ = ["FORMAT", "FeaturePipeline"]

#: The name and version of :meth:`FeaturePipeline.to_dict`'s image.
FORMAT = "suture.features"
FORMAT_VERSION = 1
#: Hints that make :meth:`FeaturePipeline.fit` leave a column out unless it is named.
SKIPPED_HINTS = ("identifier", "free_text", "empty")

_F64 = npt.NDArray[np.float64]


class FeaturePipeline:
    """Transforms chosen per column from a profile, applied to batches and single records.

    Parameters
    ----------
    numeric : Transform, default ``Standardize()``
        The (unfitted) transform cloned for every numeric column.
    categorical : Transform, default ``OneHot()``
        The (unfitted) transform cloned for every string or boolean column.

    Attributes
    ----------
    columns_ : list of str
        The input columns, in output order.
    transforms_ : dict of str to Transform
        The fitted transform of each input column.
    feature_names_ : list of str
        The output features, in output order.

    Notes
    -----
    ``transform_record(r)`` equals ``transform(one_row_batch(r))[0]`` exactly
    (``np.array_equal``), and a batch transform equals the stacked transforms of its rows;
    the tests check both with Hypothesis.  A null (or NaN) never gives a NaN feature: see
    the null policy of each transform.

    Examples
    --------
    >>> import pyarrow as pa, suture
    >>> t = pa.table({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> fp = FeaturePipeline().fit(suture.profile(t))
    >>> fp.feature_names_
    ['x', 'c=a', 'c=b', 'c=<other>']
    >>> fp.transform_record({"x": 2.0, "c": "zzz"}).tolist()
    [0.0, 0.0, 0.0, 1.0]
    """

    def __init__(
        self, *, numeric: Transform | None = None, categorical: Transform | None = None
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical

    def fit(
        self, profile: Profile, columns: Sequence[str] | None = None, *, exclude: Sequence[str] = ()
    ) -> FeaturePipeline:
        """Fit one transform per column from the profile's column summaries.

        Parameters
        ----------
        profile : Profile
            The training profile.
        columns : sequence of str, optional
            The input columns, in order.  By default every numeric, string and boolean
            column whose hints are none of identifier, free text or empty.
        exclude : sequence of str
            Columns to leave out (for example the target).

        Raises
        ------
        ConfigError
            For an unknown or unsupported column, or two features of the same name.
        """
        numeric = Standardize() if self.numeric is None else self.numeric
        categorical = OneHot() if self.categorical is None else self.categorical
        for name, template in (("numeric", numeric), ("categorical", categorical)):
            if not isinstance(template, Transform):
                raise ConfigError(
                    f"FeaturePipeline {name} must be a transform such as Standardize() or "
                    f"OneHot(), got {template!r}"
                )
        templates = {"numeric": numeric, "string": categorical, "boolean": categorical}
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
            if columns is None and (
                summary.kind not in templates or set(summary.hints) & set(SKIPPED_HINTS)
            ):
                continue
            if summary.kind not in templates:
                raise ConfigError(
                    f"column {name!r} is {summary.kind}: features are made from numeric, "
                    "string or boolean columns; leave it out"
                )
            transforms[name] = templates[summary.kind].clone().fit(summary)
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

        Values are Python numbers, strings, booleans (for boolean columns) or None.

        Raises
        ------
        RecordError
            For a missing column or a value of the wrong kind (names the column).
        """
        self._fitted()
        out = [0.0] * len(self.feature_names_)
        for column, write, start in self._plan:
            try:
                value = record[column]
            except KeyError:
                raise RecordError(
                    f"the record has no field {column!r}, which the features need",
                    column,
                    "null",
                ) from None
            write(value, out, start)
        return np.array(out, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe image of the fitted pipeline; floats are exact (``float.hex``)."""
        self._fitted()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
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
        if version != FORMAT_VERSION:
            raise CorruptStateError(
                f"{FORMAT} version {version!r} cannot be read by this suture, which reads "
                f"version {FORMAT_VERSION}; upgrade suture"
            )
        items = data.get("transforms")
        if not isinstance(items, list):
            raise CorruptStateError(f"{FORMAT} image has no list of transforms")
        pipeline = cls()
        fitted = [transform_from_dict(item) for item in items]
        pipeline._install({t.column_: t for t in fitted})
        return pipeline
