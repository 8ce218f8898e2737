"""A shallow decision tree, fitted by scikit-learn and compiled to NumPy arrays for scoring.

scikit-learn grows the tree (CART, seeded, missing values sent to the side that
scikit-learn learned); :class:`DecisionTree` then keeps only plain arrays: the split
feature and threshold of each node, its children, the side a missing value goes to and
the link value of every node.  Scoring never calls scikit-learn: a matrix is walked level
by level with NumPy, one record by a loop over at most ``max_depth`` nodes, and
explanations are Saabas path contributions (the change of the link value at each split,
credited to the split's feature), whose sum telescopes to the leaf's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError, CorruptStateError
from suture.models.base import Design, Model, hex_array, register, unhex_array

__all__ = ["DecisionTree"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
LEAF = -1


def _whole(owner: str, name: str, value: object, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (low <= value <= high)
    ):
        raise ConfigError(
            f"{owner} {name} must be a whole number from {low} to {high}, got {value!r}"
        )
    return int(value)


@register
class DecisionTree(Model):
    """A depth-limited CART tree for binary, multiclass and regression tasks.

    Parameters
    ----------
    max_depth : int, default 4
        The deepest split (1 to 16).
    min_samples_leaf : int, default 20
        The fewest training rows in a leaf.
    smoothing : float, default 1.0
        Pseudo-count added to every class of a node before its shares become log-odds
        (binary) or log-shares (multiclass logits), so a pure leaf has a finite score.
    seed : int, default 0
        Seeds scikit-learn's choice among equally good splits.

    Attributes
    ----------
    feature_, threshold_, left_, right_ : ndarray
        Per node: the split feature (``-1`` at a leaf), the threshold (a value goes left
        when ``float32(value) <= threshold``, as scikit-learn fitted it), the children.
    missing_left_ : ndarray of bool
        Per node: whether a missing value (NaN) goes left.
    value_ : ndarray, shape (nodes, n_outputs)
        The link value of every node (leaves score, inner nodes explain).
    samples_ : ndarray
        The (weighted) training rows of every node.

    Notes
    -----
    ``score_one(x)`` equals ``decision_function(X)[i]`` exactly, and so does the tree
    rebuilt from ``to_dict``.  ``contributions`` sum to the link score up to rounding (the
    telescoping sum of node values along the path).  Infinite values are ordinary large
    numbers: they go right of every finite threshold.
    """

    kind: ClassVar[str] = "tree"
    complexity: ClassVar[int] = 5
    _params: ClassVar[tuple[str, ...]] = ("max_depth", "min_samples_leaf", "smoothing", "seed")

    def __init__(
        self,
        *,
        max_depth: int = 4,
        min_samples_leaf: int = 20,
        smoothing: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.smoothing = smoothing
        self.seed = seed

    def _check_params(self) -> None:
        _whole("DecisionTree", "max_depth", self.max_depth, 1, 16)
        _whole("DecisionTree", "min_samples_leaf", self.min_samples_leaf, 1, 2**31 - 1)
        _whole("DecisionTree", "seed", self.seed, 0, 2**32 - 1)
        s = self.smoothing
        if isinstance(s, bool) or not isinstance(s, int | float) or not (0 < s < float("inf")):
            raise ConfigError(f"DecisionTree smoothing must be a positive number, got {s!r}")

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        design: Design,
        sample_weight: npt.ArrayLike | None = None,
    ) -> DecisionTree:
        """Grow the tree with scikit-learn and compile it.

        Raises
        ------
        ConfigError
            For bad parameters, a shape mismatch, or infinite values in ``X`` (scikit-learn
            cannot split them; the raw feature style clips at profile quantiles).
        """
        self._check_params()
        x, target = self._check_fit(X, y, design)
        if np.isinf(x).any():
            column = design.features[int(np.nonzero(np.isinf(x).any(axis=0))[0][0])]
            raise ConfigError(
                f"DecisionTree: feature {column!r} has infinite values; clip them (the raw "
                "feature style does) before fitting"
            )
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        task = design.task
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        common = {
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "random_state": self.seed,
        }
        if task.is_classification:
            tree = DecisionTreeClassifier(**common).fit(x, target, sample_weight=weight)
            t = tree.tree_
            k = len(task.classes)
            shares = np.zeros((t.node_count, k), dtype=np.float64)
            shares[:, np.asarray(tree.classes_, dtype=np.int64)] = t.value[:, 0, :]
            counts = shares * t.weighted_n_node_samples[:, None]
            value = self._link(counts, k)
        else:
            tree = DecisionTreeRegressor(**common).fit(x, target, sample_weight=weight)
            t = tree.tree_
            value = np.asarray(t.value[:, 0, :1], dtype=np.float64)
        leaf = t.children_left == -1
        self.feature_ = np.where(leaf, LEAF, t.feature).astype(np.int64)
        self.threshold_ = np.where(leaf, 0.0, t.threshold).astype(np.float64)
        # A leaf points to itself, so a walk of fixed length stays on it.
        nodes = np.arange(t.node_count, dtype=np.int64)
        self.left_ = np.where(leaf, nodes, t.children_left).astype(np.int64)
        self.right_ = np.where(leaf, nodes, t.children_right).astype(np.int64)
        self.missing_left_ = np.asarray(t.missing_go_to_left, dtype=bool) & ~leaf
        self.value_ = value
        self.samples_ = np.asarray(t.weighted_n_node_samples, dtype=np.float64)
        self.depth_ = int(t.max_depth)
        self.design_ = design
        self._compile()
        return self

    def _link(self, counts: F64, k: int) -> F64:
        """Link values from smoothed class counts: log-odds (binary) or log-shares."""
        smoothed = counts + float(self.smoothing)
        log_share = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
        if k == 2:
            return np.asarray((log_share[:, 1] - log_share[:, 0])[:, None], dtype=np.float64)
        return np.asarray(log_share, dtype=np.float64)

    def _compile(self) -> None:
        """Python lists for the one-record walk (plain floats and ints are fastest)."""
        self._walk = list(
            zip(
                self.feature_.tolist(),
                self.threshold_.tolist(),
                self.left_.tolist(),
                self.right_.tolist(),
                self.missing_left_.tolist(),
                strict=True,
            )
        )
        self._leaf_values = [np.array(v, dtype=np.float64) for v in self.value_]

    # -- scoring ----------------------------------------------------------------------
    def _leaves(self, x: F64) -> tuple[I64, list[tuple[I64, I64, I64]]]:
        """The leaf of every row, and per level the (rows, parent, child) of each move."""
        x32 = _as_float32(x)
        rows = np.arange(x.shape[0])
        node = np.zeros(x.shape[0], dtype=np.int64)
        moves = []
        for _ in range(self.depth_):
            feature = self.feature_[node]
            inner = feature != LEAF
            values = x32[rows, np.maximum(feature, 0)]
            left = np.where(
                np.isnan(values), self.missing_left_[node], values <= self.threshold_[node]
            )
            child = np.where(left, self.left_[node], self.right_[node])
            moves.append((rows[inner], node[inner], child[inner]))
            node = child
        return node, moves

    def decision_function(self, X: npt.ArrayLike) -> F64:
        """Link scores ``(n,)``, or ``(n, k)`` logits for multiclass."""
        x = self._check_X(X)
        node, _ = self._leaves(x)
        scores = self.value_[node]
        return scores if self.design_.task.kind == "multiclass" else scores[:, 0].copy()

    def score_one(self, x: Sequence[float] | F64) -> F64:
        """The link score of one feature vector, by a walk of at most ``max_depth`` nodes."""
        self._fitted()
        values = _as_float32(np.asarray(x, dtype=np.float64).reshape(-1)).tolist()
        if len(values) != self.design_.n_features:
            raise ConfigError(
                f"DecisionTree: a feature vector has {self.design_.n_features} values, "
                f"got {len(values)}"
            )
        walk = self._walk
        node = 0
        feature, threshold, left, right, missing_left = walk[0]
        while feature != LEAF:
            v = values[feature]
            node = left if (missing_left if v != v else v <= threshold) else right
            feature, threshold, left, right, missing_left = walk[node]
        return self._leaf_values[node].copy()

    def contributions(self, X: npt.ArrayLike) -> tuple[F64, F64]:
        """Saabas path contributions ``(n, p)`` and the root's value ``(n,)``.

        Each split on the path credits its feature with the change of the link value from
        the parent node to the child taken; multiclass explains the predicted class.
        """
        x = self._check_X(X)
        node, moves = self._leaves(x)
        n = x.shape[0]
        if self.design_.task.kind == "multiclass":
            output = np.argmax(self.value_[node], axis=1)
        else:
            output = np.zeros(n, dtype=np.int64)
        out = np.zeros((n, self.design_.n_features), dtype=np.float64)
        for rows, parent, child in moves:
            k = output[rows]
            out[rows, self.feature_[parent]] += self.value_[child, k] - self.value_[parent, k]
        return out, self.value_[0, output].astype(np.float64)

    # -- the model card ---------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The tree as nested rules: ``{"rule", "samples", "then", "else"}`` or a leaf.

        A rule reads ``"balance <= 1800.5"`` (then-branch when true) and says where a
        missing value goes; a leaf is ``{"value": [...], "samples": n}`` in link units.
        """
        self._fitted()
        return {"kind": self.kind, "depth": self.depth_, "tree": self._rule(0)}

    def _rule(self, node: int) -> dict[str, Any]:
        samples = float(self.samples_[node])
        feature = int(self.feature_[node])
        if feature == LEAF:
            return {"value": self.value_[node].tolist(), "samples": samples}
        name = self.design_.features[feature]
        missing = "then" if self.missing_left_[node] else "else"
        return {
            "rule": f"{name} <= {float(self.threshold_[node])!r}",
            "feature": name,
            "threshold": float(self.threshold_[node]),
            "missing": missing,
            "samples": samples,
            "then": self._rule(int(self.left_[node])),
            "else": self._rule(int(self.right_[node])),
        }

    def thresholds(self, feature: int) -> list[float]:
        """The split thresholds on one feature (robustness search tries both sides)."""
        self._fitted()
        return sorted(set(self.threshold_[self.feature_ == feature].tolist()))

    # -- the JSON image ---------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "feature": self.feature_.tolist(),
            "threshold": hex_array(self.threshold_),
            "left": self.left_.tolist(),
            "right": self.right_.tolist(),
            "missing_left": self.missing_left_.tolist(),
            "value": hex_array(self.value_),
            "outputs": int(self.value_.shape[1]),
            "samples": hex_array(self.samples_),
            "depth": self.depth_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        where = "tree model"
        feature = np.asarray(state["feature"], dtype=np.int64)
        n = feature.size
        outputs = int(state["outputs"])
        self.feature_ = feature
        self.threshold_ = unhex_array(state["threshold"], where)
        self.left_ = np.asarray(state["left"], dtype=np.int64)
        self.right_ = np.asarray(state["right"], dtype=np.int64)
        self.missing_left_ = np.asarray(state["missing_left"], dtype=bool)
        self.value_ = unhex_array(state["value"], where, (n, outputs))
        self.samples_ = unhex_array(state["samples"], where)
        self.depth_ = int(state["depth"])
        self._check_structure(n, outputs)
        self._compile()

    def _check_structure(self, n: int, outputs: int) -> None:
        """Refuse an image whose walk could leave the arrays or never reach a leaf."""
        p = self.design_.n_features
        sizes = {a.size for a in (self.threshold_, self.left_, self.right_, self.missing_left_)}
        expected = 1 if self.design_.task.kind != "multiclass" else len(self.design_.task.classes)
        nodes = np.arange(n)
        inner = self.feature_ != LEAF
        ok = (
            n > 0
            and sizes == {n}
            and self.samples_.size == n
            and outputs == expected
            and bool(np.all((self.feature_ >= LEAF) & (self.feature_ < p)))
            and bool(np.all(self.left_[inner] > nodes[inner]))
            and bool(np.all(self.right_[inner] > nodes[inner]))
            and bool(np.all(self.left_[inner] < n) and np.all(self.right_[inner] < n))
            and bool(np.all(self.left_[~inner] == nodes[~inner]))
            and bool(np.all(self.right_[~inner] == nodes[~inner]))
            and 0 <= self.depth_ <= 16
            and _depth(self.left_, self.right_, inner) == self.depth_
        )
        if not ok:
            raise CorruptStateError("tree model: inconsistent node arrays (possible corruption)")


def _depth(left: I64, right: I64, inner: npt.NDArray[np.bool_]) -> int:
    """The longest root-to-leaf path (children always have larger indices)."""
    depth = np.zeros(left.size, dtype=np.int64)
    for node in np.nonzero(inner)[0].tolist():
        depth[left[node]] = depth[right[node]] = depth[node] + 1
    return int(depth.max()) if depth.size else 0


def _as_float32(x: F64) -> npt.NDArray[np.float32]:
    """Values as scikit-learn's tree compares them; beyond float32's range they are ±inf."""
    with np.errstate(over="ignore"):
        return x.astype(np.float32)
