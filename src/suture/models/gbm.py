"""LightGBM, the yardstick: how far the simple candidates trail a strong boosted model.

:class:`GradientBoosting` trains a deterministic LightGBM booster (row-wise histograms,
fixed seed and thread count) with early stopping on a seeded internal validation split.
Batches are scored by the booster itself; one record is scored by a compiled copy of
the trees in NumPy arrays, with LightGBM's decisions (missing types, the zero threshold,
category sets) and its tree-by-tree sum, so it equals ``booster.predict(raw_score=True)``
(the tests find it bit for bit; 1e-12 is promised).  Measured on modeldata/mlc_churn
(104 trees): about 27 µs per record, against 24 µs for LightGBM's one-row ``predict``
with one thread and 70 µs to milliseconds with two on a busy machine (its thread pool
wakes per call); for multiclass LightGBM's one-row path took hundreds of µs.
Explanations are LightGBM's TreeSHAP contributions (``pred_contrib``).  The JSON image
holds the booster's model text, which LightGBM parses back: no pickle, no code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError, CorruptStateError
from suture.models.base import Design, Model, register

__all__ = ["CompiledForest", "GradientBoosting"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]

#: LightGBM's ``kZeroThreshold`` (the float ``1e-35f`` as a double): ``|x| <= it`` is zero.
ZERO = float(np.float32(1e-35))
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError:
        raise ConfigError("LightGBM is not installed; pip install 'suture[train]'") from None
    return lightgbm


def _whole(name: str, value: object, low: int, high: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (low <= value <= high)
    ):
        raise ConfigError(
            f"GradientBoosting {name} must be a whole number from {low} to {high}, got {value!r}"
        )


def _number(name: str, value: object, low: float, high: float, *, closed: bool) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (low <= v if closed else low < v) and v < high
    if not ok:
        bracket = "[" if closed else "("
        raise ConfigError(
            f"GradientBoosting {name} must be a number in {bracket}{low:g}, {high:g}), "
            f"got {value!r}"
        )


@register
class GradientBoosting(Model):
    """LightGBM gradient-boosted trees for binary, multiclass and regression tasks.

    Parameters
    ----------
    n_estimators : int, default 1000
        The most boosting rounds; early stopping usually ends sooner.
    learning_rate : float, default 0.05
    num_leaves : int, default 31
    max_depth : int, default -1
        ``-1`` for no limit.
    min_child_samples : int, default 20
        The fewest rows in a leaf.
    early_stopping_rounds : int, default 50
        Stop when the validation loss has not improved for this many rounds.
    validation_fraction : float, default 0.1
        The share of rows held out (seeded) for early stopping; ``0`` trains all
        ``n_estimators`` rounds on every row.
    refit : bool, default True
        After early stopping has chosen the number of rounds on the held-out share, boost
        that many rounds again on every row, the share included, so no row is left out
        of the final model (``False`` keeps the booster fitted without the share).
    categorical : sequence of int, default ()
        Indices of features that are integer category codes (the raw feature style's
        ``categorical_features_``); LightGBM splits them by sets of codes.
    num_threads : int, default 2
    seed : int, default 0

    Attributes
    ----------
    booster_ : lightgbm.Booster
        The trained booster (only the rounds up to the best iteration).
    forest_ : CompiledForest
        The same trees as NumPy arrays, for :meth:`score_one`.

    Notes
    -----
    Fitting is deterministic (``deterministic=True``, ``force_row_wise=True``, fixed seed
    and threads): the same rows give the same model text.  ``score_one`` agrees with
    ``decision_function`` to 1e-12 (only the order of summing the trees differs).
    """

    kind: ClassVar[str] = "lightgbm"
    complexity: ClassVar[int] = 9
    _params: ClassVar[tuple[str, ...]] = (
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "max_depth",
        "min_child_samples",
        "early_stopping_rounds",
        "validation_fraction",
        "refit",
        "categorical",
        "num_threads",
        "seed",
    )

    def __init__(
        self,
        *,
        n_estimators: int = 1000,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        max_depth: int = -1,
        min_child_samples: int = 20,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.1,
        refit: bool = True,
        categorical: Sequence[int] = (),
        num_threads: int = 2,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.categorical = categorical
        self.num_threads = num_threads
        self.seed = seed

    def _check_params(self, p: int) -> list[int]:
        _whole("n_estimators", self.n_estimators, 1, 100_000)
        _number("learning_rate", self.learning_rate, 0.0, float("inf"), closed=False)
        _whole("num_leaves", self.num_leaves, 2, 131_072)
        _whole("max_depth", self.max_depth, -1, 64)
        if self.max_depth == 0:
            raise ConfigError("GradientBoosting max_depth must be -1 (no limit) or positive, got 0")
        _whole("min_child_samples", self.min_child_samples, 1, 2**31 - 1)
        _whole("early_stopping_rounds", self.early_stopping_rounds, 1, 100_000)
        _number("validation_fraction", self.validation_fraction, 0.0, 1.0, closed=True)
        if not isinstance(self.refit, bool):
            raise ConfigError(f"GradientBoosting refit must be True or False, got {self.refit!r}")
        _whole("num_threads", self.num_threads, 1, 1024)
        _whole("seed", self.seed, 0, 2**31 - 1)
        codes = self.categorical
        if isinstance(codes, str | bytes) or not isinstance(codes, Sequence):
            raise ConfigError(
                f"GradientBoosting categorical must be a sequence of feature indices, got {codes!r}"
            )
        bad = [
            c
            for c in codes
            if isinstance(c, bool) or not isinstance(c, int | np.integer) or not 0 <= c < p
        ]
        if bad:
            raise ConfigError(
                f"GradientBoosting categorical indices must be features 0 to {p - 1}, got {bad!r}"
            )
        return sorted({int(c) for c in codes})

    def _lgb_params(self, design: Design) -> dict[str, Any]:
        task = design.task
        objective = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
        params: dict[str, Any] = {
            "objective": objective[task.kind],
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "max_depth": int(self.max_depth),
            "min_child_samples": int(self.min_child_samples),
            "deterministic": True,
            "force_row_wise": True,
            "seed": int(self.seed),
            "num_threads": int(self.num_threads),
            "verbose": -1,
        }
        if task.kind == "multiclass":
            params["num_class"] = len(task.classes)
        return params

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> GradientBoosting:
        """Boost trees on ``X`` with early stopping on a seeded share of the rows, then
        (``refit``) as many rounds on every row.

        Raises
        ------
        ConfigError
            For bad parameters, a shape mismatch, or LightGBM missing.
        """
        x, target = self._check_fit(X, y, design)
        categorical = self._check_params(design.n_features)
        lgb = _lightgbm()
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        train, valid = _split(
            target,
            float(self.validation_fraction),
            int(self.seed),
            classes=design.task.is_classification,
        )

        def dataset(rows: I64 | None, reference: Any = None) -> Any:
            if rows is None:  # every row, without a copy
                return lgb.Dataset(
                    x, target, weight=weight, categorical_feature=categorical, free_raw_data=True
                )
            return lgb.Dataset(
                x[rows],
                target[rows],
                weight=None if weight is None else weight[rows],
                categorical_feature=categorical,
                reference=reference,
                free_raw_data=True,
            )

        params = self._lgb_params(design)
        training = dataset(train)
        if valid.size:
            booster = lgb.train(
                params,
                training,
                num_boost_round=int(self.n_estimators),
                valid_sets=[dataset(valid, training)],
                callbacks=[lgb.early_stopping(int(self.early_stopping_rounds), verbose=False)],
            )
            best = int(booster.best_iteration) or int(self.n_estimators)
            if self.refit:
                # as many rounds per row as early stopping chose on the smaller part
                best = max(1, round(best * target.size / train.size))
                booster = lgb.train(params, dataset(None), num_boost_round=best)
        else:
            booster = lgb.train(params, training, num_boost_round=int(self.n_estimators))
            best = int(self.n_estimators)
        self.design_ = design
        self._load(booster.model_to_string(num_iteration=best))
        return self

    def _load(self, text: str) -> None:
        """Keep the booster parsed from its own model text, so a loaded model is identical."""
        lgb = _lightgbm()
        try:
            self.booster_ = lgb.Booster(model_str=text)
            dump = self.booster_.dump_model()
        except lgb.basic.LightGBMError as exc:
            raise CorruptStateError(f"lightgbm model: unreadable model text ({exc})") from None
        self.model_text_ = text
        k = self.design_.task.n_outputs
        if int(dump.get("num_class", 1)) != k or dump.get("max_feature_idx") != (
            self.design_.n_features - 1
        ):
            raise CorruptStateError(
                "lightgbm model: the model text does not match the design's features and task"
            )
        self.forest_ = CompiledForest.from_dump(dump, k)
        self.n_iterations_ = self.forest_.n_trees // k

    # -- scoring ----------------------------------------------------------------------
    def decision_function(self, X: npt.ArrayLike) -> F64:
        """Raw scores from the booster: ``(n,)``, or ``(n, k)`` logits for multiclass."""
        x = self._check_X(X)
        out = self.booster_.predict(x, raw_score=True, num_threads=int(self.num_threads))
        return np.asarray(out, dtype=np.float64)

    def score_one(self, x: Sequence[float] | F64) -> F64:
        """The raw score of one feature vector, from the compiled trees (no LightGBM call)."""
        self._fitted()
        values = np.asarray(x, dtype=np.float64).reshape(-1)
        if values.size != self.design_.n_features:
            raise ConfigError(
                f"GradientBoosting: a feature vector has {self.design_.n_features} values, "
                f"got {values.size}"
            )
        return self.forest_.score(values)

    def contributions(self, X: npt.ArrayLike) -> tuple[F64, F64]:
        """TreeSHAP contributions ``(n, p)`` and the expected value ``(n,)``.

        Multiclass explains each row's predicted class (the block of its largest logit).
        """
        x = self._check_X(X)
        p = self.design_.n_features
        raw = self.booster_.predict(x, pred_contrib=True, num_threads=int(self.num_threads))
        shap = np.asarray(raw, dtype=np.float64)
        if self.design_.task.kind == "multiclass":
            k = self.design_.task.n_outputs
            blocks = shap.reshape(x.shape[0], k, p + 1)
            chosen = np.argmax(self.decision_function(x), axis=1)
            shap = blocks[np.arange(x.shape[0]), chosen]
        return shap[:, :p].copy(), shap[:, p].copy()

    def describe(self) -> dict[str, Any]:
        """The boosting rounds kept and each feature's total split gain."""
        self._fitted()
        gain = self.booster_.feature_importance(importance_type="gain")
        return {
            "kind": self.kind,
            "iterations": self.n_iterations_,
            "trees": self.forest_.n_trees,
            "gain": {
                name: float(g)
                for name, g in sorted(
                    zip(self.design_.features, gain.tolist(), strict=True), key=lambda t: -t[1]
                )
            },
        }

    def thresholds(self, feature: int) -> list[float]:
        """The numeric split thresholds on one feature (robustness search tries both sides)."""
        self._fitted()
        return self.forest_.thresholds(feature)

    # -- the JSON image ---------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"model_text": self.model_text_}

    def _set_state(self, state: dict[str, Any]) -> None:
        text = state["model_text"]
        if not isinstance(text, str):
            raise CorruptStateError("lightgbm model: the model text is missing")
        self._load(text)


def _split(target: F64, fraction: float, seed: int, *, classes: bool) -> tuple[I64, I64]:
    """Seeded training and validation rows (none held out for ``fraction == 0``).

    For classes the share is taken from every class alike (stratified), so a rare
    positive class is in both parts.
    """
    n = target.size
    rows = np.arange(n, dtype=np.int64)
    if round(fraction * n) == 0 or round(fraction * n) >= n:
        return rows, rows[:0]
    rng = np.random.default_rng(seed)
    groups = [rows[target == c] for c in np.unique(target)] if classes else [rows]
    held = []
    for group in groups:
        take = round(fraction * group.size)
        if take < group.size:
            held.append(rng.permutation(group)[:take])
    valid = np.sort(np.concatenate(held)) if held else rows[:0]
    return np.setdiff1d(rows, valid), valid


@dataclass
class CompiledForest:
    """LightGBM's trees as flat arrays, walked for one row without LightGBM.

    Inner nodes come first (``0 .. inner-1``), leaves after them; a leaf's children are
    itself, so every tree's walk takes ``depth`` steps.  Per inner node: ``feature``,
    ``threshold``, ``left``/``right``, ``default_left``, ``missing`` (0 none, 1 zero, 2
    NaN) and, for categorical splits, a row of ``categories`` (the codes that go left).
    """

    feature: I64
    threshold: F64
    left: I64
    right: I64
    default_left: BOOL
    missing: I64
    cat_nodes: I64
    categories: BOOL
    leaf_value: F64
    roots: I64
    depth: int
    outputs: int

    @property
    def n_trees(self) -> int:
        """How many trees (rounds times outputs)."""
        return int(self.roots.size)

    @classmethod
    def from_dump(cls, dump: dict[str, Any], outputs: int) -> CompiledForest:
        """Compile ``Booster.dump_model()``'s JSON trees."""
        inner: list[dict[str, Any]] = []
        leaves: list[float] = []
        roots: list[tuple[str, int]] = []
        links: list[tuple[tuple[str, int], tuple[str, int]]] = []
        depth = 0
        for tree in dump["tree_info"]:
            stack: list[tuple[dict[str, Any], int, tuple[str, int] | None, bool]] = [
                (tree["tree_structure"], 0, None, False)
            ]
            while stack:
                node, level, parent, is_left = stack.pop()
                if "leaf_value" in node:
                    ref = ("leaf", len(leaves))
                    leaves.append(float(node["leaf_value"]))
                else:
                    ref = ("inner", len(inner))
                    inner.append(node)
                    links.append((ref, ref))
                    stack.append((node["right_child"], level + 1, ref, False))
                    stack.append((node["left_child"], level + 1, ref, True))
                depth = max(depth, level)
                if parent is None:
                    roots.append(ref)
                else:
                    i = parent[1]
                    old = links[i]
                    links[i] = (ref, old[1]) if is_left else (old[0], ref)
        m = len(inner)

        def index(ref: tuple[str, int]) -> int:
            return ref[1] if ref[0] == "inner" else m + ref[1]

        categorical = [i for i, n in enumerate(inner) if n["decision_type"] == "=="]
        sets = [[int(c) for c in str(inner[i]["threshold"]).split("||")] for i in categorical]
        width = max((max(s) + 1 for s in sets), default=0)
        categories = np.zeros((len(sets), width), dtype=bool)
        for row, codes in enumerate(sets):
            categories[row, codes] = True
        return cls(
            feature=np.array([n["split_feature"] for n in inner], dtype=np.int64),
            threshold=np.array(
                [0.0 if n["decision_type"] == "==" else float(n["threshold"]) for n in inner],
                dtype=np.float64,
            ),
            left=np.array([index(a) for a, _ in links], dtype=np.int64),
            right=np.array([index(b) for _, b in links], dtype=np.int64),
            default_left=np.array([bool(n["default_left"]) for n in inner], dtype=bool),
            missing=np.array([_MISSING[n["missing_type"]] for n in inner], dtype=np.int64),
            cat_nodes=np.array(categorical, dtype=np.int64),
            categories=categories,
            leaf_value=np.array(leaves, dtype=np.float64),
            roots=np.array([index(r) for r in roots], dtype=np.int64),
            depth=depth,
            outputs=outputs,
        )

    def __post_init__(self) -> None:
        m = self.feature.size
        self._leaves = np.arange(m, m + self.leaf_value.size, dtype=np.int64)
        self._nan_nodes = np.flatnonzero(self.missing == 2)
        self._nan_feature = self.feature[self._nan_nodes]
        self._zero_nodes = np.flatnonzero(self.missing == 1)
        self._zero_feature = self.feature[self._zero_nodes]
        self._cat_feature = self.feature[self.cat_nodes]
        # Category sets as one flat table with a False column at ``width``, where every
        # code LightGBM sends right (NaN, negative, unseen or huge) is looked up.
        width = self.categories.shape[1]
        padded = np.zeros((self.cat_nodes.size, width + 1), dtype=bool)
        padded[:, :width] = self.categories
        self._width = float(width)
        self._table = padded.ravel()
        self._cat_base = np.arange(self.cat_nodes.size, dtype=np.int64) * (width + 1)
        self._values = np.concatenate([np.zeros(m), self.leaf_value])

    def score(self, x: F64) -> F64:
        """The raw score of one row (LightGBM's numerical and categorical decisions)."""
        nan = np.isnan(x)
        # LightGBM stores |x| <= kZeroThreshold as 0, and NaN as 0 unless a split says NaN.
        zero = np.abs(x) <= ZERO
        special = nan | zero
        if not special.any():
            left = x[self.feature] <= self.threshold
        else:
            left = np.where(special, 0.0, x)[self.feature] <= self.threshold
            # Splits that send missing values one way: NaN-type ones for a NaN, zero-type
            # ones for a zero or a NaN (read as 0).
            if nan.any():
                hit = self._nan_nodes[nan[self._nan_feature]]
                left[hit] = self.default_left[hit]
            hit = self._zero_nodes[special[self._zero_feature]]
            left[hit] = self.default_left[hit]
        if self.cat_nodes.size:
            # LightGBM truncates a code to int: (-1, 0) reads as 0, NaN and <= -1 go right.
            code = np.where((x > -1.0) & (x < self._width), x, self._width).astype(np.int64)
            left[self.cat_nodes] = self._table[self._cat_base + code[self._cat_feature]]
        step = np.concatenate([np.where(left, self.left, self.right), self._leaves])
        node = self.roots
        for _ in range(self.depth):
            node = step[node]
        values = self._values[node]
        # Summed tree by tree in order, as LightGBM does (cumsum is sequential).
        return np.asarray(np.cumsum(values.reshape(-1, self.outputs), axis=0)[-1], dtype=np.float64)

    def thresholds(self, feature: int) -> list[float]:
        """The distinct numeric thresholds on ``feature``."""
        numeric = (self.feature == feature) & (self.missing >= 0)
        numeric[self.cat_nodes] = False
        return sorted(set(self.threshold[numeric].tolist()))
