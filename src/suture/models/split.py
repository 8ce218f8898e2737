"""Which rows train and which judge: a holdout and cross-validation folds.

Both are deterministic for a seed, stratified by class for classification, and
time-ordered when a time array is given: the holdout is then the latest rows, and the
folds chain forward (train on the past, validate on the next block), so no model is ever
judged on rows older than some it learned from.  Rows with the same time stay on the same
side of every cut.  Indices are returned sorted, as ``int64`` arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from suture.errors import ConfigError
from suture.models.base import Task

__all__ = ["holdout_split", "kfold"]

Index = npt.NDArray[np.int64]


def _check_n(n: object) -> int:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 2:
        raise ConfigError(f"n must be a whole number of rows >= 2 to split, got {n!r}")
    return int(n)


def _check_seed(seed: object) -> int:
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ConfigError(f"seed must be a whole number, got {seed!r}")
    return int(seed)


def _codes(task: Task, y: npt.ArrayLike, n: int) -> npt.NDArray[np.int64] | None:
    """Class codes for stratification (None for regression)."""
    target = np.asarray(y, dtype=np.float64).ravel()
    if target.size != n:
        raise ConfigError(f"y has {target.size} values but n is {n}; give one per row")
    if not task.is_classification:
        return None
    k = len(task.classes)
    if np.any(~np.isfinite(target) | (target < 0) | (target >= k) | (target != np.round(target))):
        raise ConfigError(
            f"y must hold class codes 0..{k - 1} for the classes {list(task.classes)!r} "
            "(see encode_target), got other values"
        )
    return target.astype(np.int64)


def _times(time: npt.ArrayLike, n: int) -> npt.NDArray[np.generic]:
    values = np.asarray(time)
    if values.ndim != 1 or values.size != n:
        raise ConfigError(f"time must have one value per row ({n}), got shape {values.shape}")
    if values.dtype.kind in "mM":
        missing = int(np.count_nonzero(np.isnat(values)))
    elif values.dtype.kind in "iuf":
        missing = int(np.count_nonzero(~np.isfinite(values.astype(np.float64))))
    else:
        raise ConfigError(
            f"time must be numbers or datetimes, got an array of {values.dtype}; "
            "convert the time column first"
        )
    if missing:
        raise ConfigError(
            f"time has {missing} missing value(s); rows without a time cannot be ordered, "
            "drop or fill them first"
        )
    return values


def _cuts(ordered: npt.NDArray[np.generic], ideals: list[float]) -> list[int] | None:
    """Cut positions in sorted times, each the boundary between unequal times nearest to
    its ideal position (the earlier one on a tie) while leaving room for the rest, so that
    the cuts strictly increase; None when there are fewer boundaries than cuts.
    """
    bounds = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    if bounds.size < len(ideals):
        return None
    cuts: list[int] = []
    low = 0
    for j, ideal in enumerate(ideals):
        window = bounds[low : bounds.size - (len(ideals) - 1 - j)]
        pick = int(np.argmin(np.abs(window - ideal)))
        cuts.append(int(window[pick]))
        low += pick + 1
    return cuts


def _check_share(test_size: object) -> float:
    if (
        not isinstance(test_size, int | float)
        or isinstance(test_size, bool)
        or not 0.0 < float(test_size) < 1.0
    ):
        raise ConfigError(f"test_size must be a share strictly between 0 and 1, got {test_size!r}")
    return float(test_size)


def _sorted_pair(mask: npt.NDArray[np.bool_]) -> tuple[Index, Index]:
    return np.flatnonzero(~mask).astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def holdout_split(
    n: int,
    *,
    task: Task,
    y: npt.ArrayLike,
    time: npt.ArrayLike | None = None,
    test_size: float = 0.2,
    seed: int = 0,
) -> tuple[Index, Index]:
    """The rows to train on and the rows held out to judge the chosen model.

    Parameters
    ----------
    n : int
        The number of rows.
    task : Task
    y : array of shape (n,)
        The encoded target (class codes for classification).
    time : array of shape (n,), optional
        Numbers or datetimes.  When given, the holdout is the latest ``test_size`` share
        of the rows by time, with equal times kept together (the cut moves to the nearer
        edge of the tied rows), and classes are not stratified.
    test_size : float, default 0.2
        The share of rows held out, strictly between 0 and 1.
    seed : int, default 0

    Returns
    -------
    train, test : int64 arrays, sorted

    Notes
    -----
    Without ``time``, classification holds out ``round(test_size * count)`` rows of each
    class, at least one and never all of them; regression holds out
    ``round(test_size * n)`` rows (at least one, at most ``n - 1``), drawn at random.

    Raises
    ------
    ConfigError
        For ``test_size`` outside (0, 1), a class with fewer than two rows, a time array
        with missing values or too few distinct times to leave rows on both sides.
    """
    n = _check_n(n)
    share = _check_share(test_size)
    rng = np.random.default_rng(_check_seed(seed))
    codes = _codes(task, y, n)
    if time is not None:
        times = _times(time, n)
        order = np.argsort(times, kind="stable")
        ordered = times[order]
        cuts = _cuts(ordered, [min(max(n - round(share * n), 1), n - 1)])
        if cuts is None:
            raise ConfigError(
                f"time has too few distinct values to hold out the latest {share:.0%} of the "
                "rows with equal times together; give a finer time column or no time"
            )
        test = np.zeros(n, dtype=bool)
        test[order[cuts[0] :]] = True
        return _sorted_pair(test)
    if codes is None:
        held = min(max(round(share * n), 1), n - 1)
        test = np.zeros(n, dtype=bool)
        test[rng.permutation(n)[:held]] = True
        return _sorted_pair(test)
    counts = np.bincount(codes, minlength=len(task.classes))
    _check_classes(task, counts, 2, "a train and a test row")
    wanted = np.clip(np.round(share * counts), 1, counts - 1).astype(np.int64)
    rank = _rank_within_class(codes, rng)
    return _sorted_pair(rank < wanted[codes])


def _check_classes(task: Task, counts: npt.NDArray[np.int64], least: int, what: str) -> None:
    """Refuse a class (present in the task) with fewer rows than ``least``."""
    for label, count in zip(task.classes, counts.tolist(), strict=True):
        if count < least:
            raise ConfigError(
                f"class {label!r} of target {task.target!r} has {count} row(s), fewer than "
                f"the {least} needed for {what}; add rows of that class, merge it into "
                "another, or use fewer folds"
            )


def _rank_within_class(codes: npt.NDArray[np.int64], rng: np.random.Generator) -> Index:
    """Each row's position in a random order of its class (0 for the first drawn)."""
    shuffled = rng.permutation(codes.size)
    order = shuffled[np.argsort(codes[shuffled], kind="stable")]
    starts = np.searchsorted(codes[order], codes[order], side="left")
    rank = np.empty(codes.size, dtype=np.int64)
    rank[order] = np.arange(codes.size) - starts
    return rank


def kfold(
    n: int,
    k: int = 5,
    *,
    task: Task,
    y: npt.ArrayLike,
    seed: int = 0,
    time: npt.ArrayLike | None = None,
) -> list[tuple[Index, Index]]:
    """Cross-validation folds: ``k`` pairs of (train rows, validation rows).

    Without ``time`` every row is validated exactly once: classification deals each
    class's rows, in a seeded random order, round the folds in turn (so every fold holds
    each class within one row of its share, and fold sizes differ by at most one);
    regression deals a random order of all rows the same way.

    With ``time`` the folds chain forward: the rows, ordered by time, are cut into
    ``k + 1`` blocks of about equal size (equal times in the same block); fold ``i`` trains
    on blocks ``0..i`` and validates on block ``i + 1``.  The first block is never
    validated, and blocks are not stratified (time decides): a block without some class
    gives that fold a NaN AUC.

    Raises
    ------
    ConfigError
        For ``k`` below 2 or above ``n``, a class with fewer rows than ``k`` (stratified
        folds), a time array with missing values or too few distinct times for ``k + 1``
        blocks.
    """
    n = _check_n(n)
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or not 2 <= k <= n:
        raise ConfigError(f"k must be a whole number of folds from 2 to the rows ({n}), got {k!r}")
    k = int(k)
    rng = np.random.default_rng(_check_seed(seed))
    codes = _codes(task, y, n)
    if time is not None:
        return _forward(_times(time, n), n, k)
    if codes is None:
        position = np.empty(n, dtype=np.int64)
        position[rng.permutation(n)] = np.arange(n)
    else:
        _check_classes(task, np.bincount(codes, minlength=len(task.classes)), k, f"{k} folds")
        # Positions in the class-by-class order: consecutive positions go to consecutive
        # folds, so each class is dealt round the folds.
        rank = _rank_within_class(codes, rng)
        class_start = np.concatenate([[0], np.cumsum(np.bincount(codes))[:-1]])
        position = class_start[codes] + rank
    fold = position % k
    return [_sorted_pair(fold == i) for i in range(k)]


def _forward(times: npt.NDArray[np.generic], n: int, k: int) -> list[tuple[Index, Index]]:
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    cuts = _cuts(ordered, [j * n / (k + 1) for j in range(1, k + 1)])
    if cuts is None:
        raise ConfigError(
            f"time has too few distinct values for {k} forward-chaining folds ({k + 1} blocks "
            "of rows with equal times together); use fewer folds or a finer time column"
        )
    edges = [0, *cuts, n]
    folds = []
    for i in range(k):
        train = np.sort(order[: edges[i + 1]]).astype(np.int64)
        val = np.sort(order[edges[i + 1] : edges[i + 2]]).astype(np.int64)
        folds.append((train, val))
    return folds
