"""Features fitted from a profile: column transforms and the FeaturePipeline.

One :class:`FeaturePipeline` builds the training matrix from Arrow batches and every
scoring row from a single record, with identical results.
"""

from __future__ import annotations

from suture.features.pipeline import FeaturePipeline
from suture.features.transforms import OneHot, Standardize, Transform

__all__ = ["FeaturePipeline", "OneHot", "Standardize", "Transform"]
