"""Features fitted from a profile: column transforms and the FeaturePipeline.

One :class:`FeaturePipeline` builds the training matrix from Arrow batches and every
scoring row from a single record, with identical results.  Its ``style`` picks the
transforms for a family of models: ``linear`` (:class:`Standardize`, :class:`OneHot`,
:class:`Hashing`, cyclic :class:`DateParts`), ``binned`` (:class:`Bins`, :class:`OneHot`,
:class:`Hashing`, binned :class:`DateParts`) or ``raw`` (:class:`Clip`, :class:`Codes`,
raw :class:`DateParts`).
"""

from __future__ import annotations

from suture.features.bins import Bins
from suture.features.dates import DateParts
from suture.features.hashing import Hashing
from suture.features.pipeline import STYLES, FeaturePipeline
from suture.features.transforms import Clip, Codes, OneHot, Standardize, Transform

__all__ = [
    "STYLES",
    "Bins",
    "Clip",
    "Codes",
    "DateParts",
    "FeaturePipeline",
    "Hashing",
    "OneHot",
    "Standardize",
    "Transform",
]
