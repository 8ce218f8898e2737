"""The MinHash recommender: fit from interactions, query, update, save and load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from suture.engines.base import Engine
from suture.recommend._answers import Reason, Recommendation, jaccard_estimate
from suture.recommend._errors import InvalidParameterError, NotFittedError, UnknownIdError
from suture.recommend._ids import id_keys, lookup
from suture.recommend._incremental import MergeParams, MergePlan, merge_state
from suture.recommend._lsh import LSHParams, Neighbours, build_neighbours, choose_bands
from suture.recommend._scoring import Scored, best, neighbour_scores, popular_fill, top_items
from suture.recommend._signatures import ItemSignatures, SignatureState

__all__ = ["Recommender", "fit"]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]


@dataclass
class History:
    """Each user's distinct items, CSR: items of user ``u`` are ``items[indptr[u]:indptr[u+1]]``."""

    indptr: I64
    items: I32

    def of(self, user: int) -> I32:
        """Item indices of one user (sorted)."""
        return self.items[self.indptr[user] : self.indptr[user + 1]]


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidParameterError(
            f"{name}={value!r} is out of range; expected a value between {low} and {high}"
        )


class Recommender:
    """Recommend items from MinHash signatures of who interacted with them.

    Parameters
    ----------
    user, item : str
        Identifier columns of the interaction table (integers or strings).
    weight : str, optional
        Numeric column (e.g. a rating); see ``min_weight``.
    min_weight : float, optional
        Rows with ``weight < min_weight`` are ignored (default: keep positive weights).
    num_perm : int, default 128
        Signature length; the Jaccard standard error is ``sqrt(J(1-J)/num_perm)``.
    threshold : float, default 0.05
        Target Jaccard similarity: the LSH bands and rows are chosen so that pairs above
        it become candidates with high probability.
    neighbours : int, default 200
        Neighbours kept per item (most similar first).
    min_similarity : float, default 0.0
        Candidates estimated below this similarity are not kept as neighbours.
    alpha : float, default 0.7
        Asymmetry of the neighbour weight: the overlap of items A (chosen) and B
        (candidate), estimated from their Jaccard similarity and user counts, is divided
        by ``|A|**alpha * |B|**(1 - alpha)``; 0.5 is the cosine.
    power : float, default 2.0
        The weight is raised to this power, so the strongest neighbours dominate.
    max_reasons : int, default 3
        Reasons attached to each recommendation.
    seed : int, default 1
        Seed of the MinHash family.

    Attributes
    ----------
    state_ : SignatureState
        Signatures, popularity counts and history; what :meth:`update` merges into.
    lsh_ : LSHParams
    neighbours_ : Neighbours
    history_ : History
    popularity_ : ndarray of int64
        Distinct users per item.

    Notes
    -----
    A user's recommendations are scored by summing, over the items the user chose, the
    weight of each neighbour (see ``alpha``); items the user chose are excluded;
    unknown users, and users with too few neighbours to fill ``k``, get the most popular
    items with ``because="popular"``.
    """

    def __init__(
        self,
        *,
        user: str,
        item: str,
        weight: str | None = None,
        min_weight: float | None = None,
        num_perm: int = 128,
        threshold: float = 0.05,
        neighbours: int = 200,
        min_similarity: float = 0.0,
        alpha: float = 0.7,
        power: float = 2.0,
        max_reasons: int = 3,
        seed: int = 1,
    ) -> None:
        self.user = user
        self.item = item
        self.weight = weight
        self.min_weight = min_weight
        self.num_perm = num_perm
        self.threshold = threshold
        self.neighbours = neighbours
        self.min_similarity = min_similarity
        self.alpha = alpha
        self.power = power
        self.max_reasons = max_reasons
        self.seed = seed

    # -- configuration -------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as given."""
        return {
            "user": self.user,
            "item": self.item,
            "weight": self.weight,
            "min_weight": self.min_weight,
            "num_perm": self.num_perm,
            "threshold": self.threshold,
            "neighbours": self.neighbours,
            "min_similarity": self.min_similarity,
            "alpha": self.alpha,
            "power": self.power,
            "max_reasons": self.max_reasons,
            "seed": self.seed,
        }

    def _validate(self) -> None:
        _check_range("num_perm", self.num_perm, 1, 8192)
        _check_range("threshold", self.threshold, 1e-6, 1.0)
        _check_range("neighbours", self.neighbours, 1, 1_000_000)
        _check_range("min_similarity", self.min_similarity, 0.0, 1.0)
        _check_range("alpha", self.alpha, 0.0, 1.0)
        _check_range("power", self.power, 0.0, 10.0)
        _check_range("max_reasons", self.max_reasons, 0, 1000)
        if self.min_weight is not None and self.weight is None:
            raise InvalidParameterError(
                "min_weight is set but weight is not; pass the weight column too"
            )

    def aggregator(self) -> ItemSignatures:
        """The aggregator that builds this recommender's state on any engine."""
        return ItemSignatures(
            user=self.user,
            item=self.item,
            weight=self.weight,
            min_weight=self.min_weight,
            num_perm=self.num_perm,
            seed=self.seed,
            history=True,
        )

    # -- fitting -------------------------------------------------------------------
    def fit(self, source: Any, *, engine: Engine | None = None) -> Recommender:
        """Build signatures, the LSH index, neighbours and popularity from interactions.

        Parameters
        ----------
        source : path, table, DataFrame or Spark DataFrame
            Anything the engine accepts.
        engine : LocalEngine or SparkEngine, optional
            Default: a :class:`suture.engines.LocalEngine`.
        """
        self._validate()
        return self.fit_state(_engine(engine).aggregate(source, self.aggregator()))

    def fit_state(self, state: SignatureState) -> Recommender:
        """Fit from an already aggregated :class:`SignatureState`."""
        self._validate()
        state.compact()
        return self._attach(state, choose_bands(self.threshold, self.num_perm), None)

    def _attach(
        self, state: SignatureState, lsh: LSHParams, neighbours: Neighbours | None
    ) -> Recommender:
        """Set the fitted attributes; build the neighbour lists unless given (loading)."""
        self.state_ = state
        self.lsh_ = lsh
        self.history_ = _history(state)
        self.popularity_ = np.bincount(self.history_.items, minlength=state.num_items).astype(
            np.int64
        )
        self.popular_order_ = np.argsort(-self.popularity_, kind="stable").astype(np.int64)
        if neighbours is None:
            neighbours = build_neighbours(
                state.signatures,
                lsh,
                max_neighbours=self.neighbours,
                min_similarity=self.min_similarity,
                sizes=self.popularity_.astype(np.float64),
                alpha=self.alpha,
                power=self.power,
            )
        self.neighbours_ = neighbours
        self.band_keys_: npt.NDArray[np.uint64] | None = None
        self.last_merge_: MergePlan | None = None
        return self

    def update(self, source: Any, *, engine: Engine | None = None) -> Recommender:
        """Merge new interactions into the signatures without re-reading the old ones.

        The signatures, counts and history are merged exactly; the index and neighbour
        lists are then rebuilt from the merged signatures, so the result equals a fit on
        the union of old and new interactions.
        """
        state = self._state()
        agg = self.aggregator()
        new = _engine(engine).aggregate(source, agg)
        return self.fit_state(agg.finalize(agg.merge(_copy_state(state), new)))

    def merged(self, source: Any, *, engine: Engine | None = None) -> Recommender:
        """A new recommender with ``source``'s interactions merged in; ``self`` is unchanged.

        Equal to :meth:`update` (a refit on the union), bit for bit, but only the
        neighbour lists that the new interactions can change are recomputed: those of
        the items they touch and of the items sharing an LSH bucket with those.
        """
        agg = self.aggregator()
        return self.merge_state(agg.finalize(_engine(engine).aggregate(source, agg)))

    def merge_state(self, batch: SignatureState) -> Recommender:
        """:meth:`merged` for an already aggregated (compacted) batch state.

        A batch with more distinct pairs than a quarter of the history (a replay after a
        restart, say) is merged by a refit on copies instead, which is then cheaper.
        """
        state = self._state()
        if len(batch.pair_users) * 4 > len(state.pair_users):
            agg = self.aggregator()
            merged = agg.finalize(agg.merge(_copy_state(state), batch))
            return Recommender(**self.get_params()).fit_state(merged)
        params = MergeParams(self.neighbours, self.min_similarity, self.alpha, self.power)
        out = merge_state(
            state,
            self.history_.indptr,
            self.history_.items,
            self.neighbours_,
            self.band_keys(),
            batch,
            lsh=self.lsh_,
            params=params,
        )
        model = Recommender(**self.get_params())
        model.state_, model.lsh_, model.neighbours_ = out.state, self.lsh_, out.neighbours
        model.history_ = History(out.indptr, out.items)
        model.popularity_ = np.bincount(out.items, minlength=out.state.num_items).astype(np.int64)
        model.popular_order_ = np.argsort(-model.popularity_, kind="stable").astype(np.int64)
        model.band_keys_ = out.band_keys
        model.last_merge_ = out.plan
        return model

    def band_keys(self) -> npt.NDArray[np.uint64]:
        """Every item's LSH bucket key in every band, shape (bands, items) (cached)."""
        if getattr(self, "band_keys_", None) is None:
            from suture.recommend._lsh import band_buckets

            self.band_keys_ = band_buckets(self._state().signatures, self.lsh_)
        keys = self.band_keys_
        assert keys is not None
        return keys

    def _state(self) -> SignatureState:
        if not hasattr(self, "state_"):
            raise NotFittedError(
                "this Recommender is not fitted; call fit(...) or Recommender.load(path)"
            )
        return self.state_

    # -- identifiers -----------------------------------------------------------------
    def _index_of(self, value: Any, keys: npt.NDArray[np.uint64], ids: pa.Array) -> int:
        converted = _convert_id(value, ids.type)
        if converted is None:
            return -1
        key = id_keys(pa.array([converted], ids.type))
        return int(lookup(keys, key)[0])

    def _ids(self, indices: npt.ArrayLike, ids: pa.Array) -> list[Any]:
        return list(ids.take(pa.array(np.asarray(indices, dtype=np.int64))).to_pylist())

    def knows_user(self, user: Any) -> bool:
        """Whether ``user`` occurs in the interactions (else it is recommended popular items)."""
        state = self._state()
        return self._index_of(user, state.user_keys, state.user_ids) >= 0

    def knows_item(self, item: Any) -> bool:
        """Whether ``item`` occurs in the interactions."""
        state = self._state()
        return self._index_of(item, state.item_keys, state.item_ids) >= 0

    # -- queries ---------------------------------------------------------------------
    def recommend(self, user: Any, k: int = 10) -> list[Recommendation]:
        """Top-``k`` items for a user, each with the user's items that led to it.

        Unknown users get the most popular items (``because="popular"``).
        """
        state = self._state()
        row = self._index_of(user, state.user_keys, state.user_ids)
        chosen = self.history_.of(row) if row >= 0 else np.zeros(0, dtype=np.int32)
        return self.recommend_items_index(chosen, k)

    def recommend_for_items(self, items: list[Any], k: int = 10) -> list[Recommendation]:
        """Top-``k`` items for an anonymous user who chose ``items`` (unknown ones ignored)."""
        state = self._state()
        found = [self._index_of(i, state.item_keys, state.item_ids) for i in items]
        chosen = np.unique(np.array([i for i in found if i >= 0], dtype=np.int32))
        return self.recommend_items_index(chosen, k)

    def recommend_items_index(
        self, chosen: npt.NDArray[np.integer], k: int
    ) -> list[Recommendation]:
        """:meth:`recommend` for a set of chosen item indices."""
        state = self._state()
        scored = neighbour_scores(self.neighbours_, chosen)
        top = best(scored, self.popularity_, k)
        picked = scored.candidates[top]
        answers = [
            Recommendation(item=name, score=float(score), because="similar-items", reasons=why)
            for name, score, why in zip(
                self._ids(picked, state.item_ids),
                scored.scores[top],
                self._reasons_of(picked, scored),
                strict=True,
            )
        ]
        if len(answers) < k:
            exclude = np.concatenate([np.asarray(chosen, dtype=np.int64), picked])
            answers += self._popular(k - len(answers), exclude)
        return answers

    def top_items(self, chosen: npt.NDArray[np.integer], k: int) -> I64:
        """Recommended item indices only (no reasons): the evaluation's fast path."""
        self._state()
        return top_items(self.neighbours_, self.popularity_, self.popular_order_, chosen, k)

    def _reasons_of(self, picked: I64, scored: Scored) -> list[tuple[Reason, ...]]:
        """Each picked item's reasons: its strongest sources (similarity, then index)."""
        mine = np.isin(scored.targets, picked)
        targets, src, sim = scored.targets[mine], scored.sources[mine], scored.similarity[mine]
        order = np.lexsort((src, -sim, targets))
        targets, src, sim = targets[order], src[order], sim[order]
        new_run = np.ones(len(targets), dtype=bool)
        new_run[1:] = targets[1:] != targets[:-1]
        starts = np.flatnonzero(new_run)
        first = np.repeat(starts, np.diff(np.append(starts, len(targets))))
        keep = np.arange(len(targets)) - first < self.max_reasons
        targets, src, sim = targets[keep], src[keep], sim[keep]
        names = self._ids(src, self.state_.item_ids)
        lo = np.searchsorted(targets, picked, "left")
        hi = np.searchsorted(targets, picked, "right")
        return [
            tuple(
                Reason(names[j], jaccard_estimate(float(sim[j]), self.num_perm))
                for j in range(a, b)
            )
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
        ]

    def _popular(self, k: int, exclude: I64) -> list[Recommendation]:
        pick = popular_fill(self.popular_order_, exclude, k)
        names = self._ids(pick, self.state_.item_ids)
        return [
            Recommendation(item=n, score=float(self.popularity_[i]), because="popular")
            for n, i in zip(names, pick, strict=True)
        ]

    def popular(self, k: int = 10) -> list[Recommendation]:
        """The ``k`` items with the most distinct users."""
        self._state()
        return self._popular(k, np.zeros(0, dtype=np.int64))

    def similar(self, item: Any, k: int = 10) -> list[Recommendation]:
        """The ``k`` items most similar to ``item``, with their estimated Jaccard similarity.

        Raises
        ------
        UnknownIdError
            When the item never occurred in the interactions.
        """
        state = self._state()
        index = self._index_of(item, state.item_keys, state.item_ids)
        if index < 0:
            raise UnknownIdError(
                f"item {item!r} does not occur in the fitted interactions "
                f"({state.num_items} items); check the id or update the recommender"
            )
        items, sims = self.neighbours_.of(index)
        weights = self.neighbours_.weights_of(index)
        names = self._ids(items[:k], state.item_ids)
        source = self._ids([index], state.item_ids)[0]
        return [
            Recommendation(
                item=n,
                score=float(w),
                because="similar",
                reasons=(Reason(source, jaccard_estimate(float(s), self.num_perm)),),
            )
            for n, s, w in zip(names, sims[:k], weights[:k], strict=True)
        ]

    def jaccard(self, item_a: Any, item_b: Any) -> float:
        """Estimated Jaccard similarity of two items from their signatures."""
        state = self._state()
        a = self._index_of(item_a, state.item_keys, state.item_ids)
        b = self._index_of(item_b, state.item_keys, state.item_ids)
        for name, index in ((item_a, a), (item_b, b)):
            if index < 0:
                raise UnknownIdError(f"item {name!r} does not occur in the fitted interactions")
        return float(np.mean(state.signatures[a] == state.signatures[b]))

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the recommender to the folder ``path``, atomically.

        The folder is a :mod:`suture.bundle` artifact (see
        :mod:`suture.recommend._bundle`): a bundle already there is replaced; a folder
        holding anything else is refused.
        """
        from suture.recommend._bundle import RecommenderParts, write_parts

        state = self._state()
        return write_parts(
            Path(path), RecommenderParts(self.get_params(), state, self.lsh_, self.neighbours_)
        )

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load a bundle written by :meth:`save` (any format so far), verifying every part."""
        from suture.recommend._bundle import read_parts

        parts = read_parts(Path(path))
        return cls(**parts.params)._attach(parts.state, parts.lsh, parts.neighbours)


def _convert_id(value: Any, kind: pa.DataType) -> Any:
    if pa.types.is_int64(kind):
        if isinstance(value, bool):
            return None
        if isinstance(value, int | np.integer):
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            return None
    return str(value)


def _history(state: SignatureState) -> History:
    users = lookup(state.user_keys, state.pair_users)
    items = lookup(state.item_keys, state.pair_items).astype(np.int32)
    indptr = np.zeros(len(state.user_keys) + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=len(state.user_keys)), out=indptr[1:])
    return History(indptr, items)


def _copy_state(state: SignatureState) -> SignatureState:
    return SignatureState(
        item_keys=state.item_keys.copy(),
        item_ids=state.item_ids,
        signatures=state.signatures.copy(),
        counts=state.counts.copy(),
        user_keys=state.user_keys.copy(),
        user_ids=state.user_ids,
        pair_users=state.pair_users.copy(),
        pair_items=state.pair_items.copy(),
        dropped=state.dropped,
    )


def _engine(engine: Engine | str | None) -> Engine:
    from suture.engines import resolve_engine

    return resolve_engine(engine)


def fit(
    source: Any,
    *,
    user: str,
    item: str,
    weight: str | None = None,
    min_weight: float | None = None,
    engine: Engine | None = None,
    **params: Any,
) -> Recommender:
    """Fit a :class:`Recommender` on an interaction table (see its parameters)."""
    model = Recommender(user=user, item=item, weight=weight, min_weight=min_weight, **params)
    return model.fit(source, engine=engine)
