"""Recommend items with MinHash signatures and locality-sensitive hashing.

Each item is the set of users who interacted with it; MinHash signatures estimate the
Jaccard similarity between items, LSH finds each item's neighbours without comparing all
pairs, and a user's recommendations are the neighbours of what they already chose, each
with the items that led to it.

Examples
--------
>>> import pyarrow as pa
>>> from suture import recommend
>>> table = pa.table({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "a"]})
>>> model = recommend.fit(table, user="user", item="item", num_perm=64)
>>> [r.item for r in model.recommend(3, k=1)]
['b']
"""

from suture.recommend._answers import Reason, Recommendation, jaccard_estimate
from suture.recommend._errors import InvalidParameterError, NotFittedError, UnknownIdError
from suture.recommend._lsh import (
    BandIndex,
    LSHParams,
    Neighbours,
    build_index,
    candidate_probability,
    choose_bands,
)
from suture.recommend._model import Recommender, fit
from suture.recommend._signatures import ItemSignatures, SignatureState, permutation_hashes

__all__ = [
    "BandIndex",
    "InvalidParameterError",
    "ItemSignatures",
    "LSHParams",
    "Neighbours",
    "NotFittedError",
    "Reason",
    "Recommendation",
    "Recommender",
    "SignatureState",
    "UnknownIdError",
    "build_index",
    "candidate_probability",
    "choose_bands",
    "fit",
    "jaccard_estimate",
    "permutation_hashes",
]
