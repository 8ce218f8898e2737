"""Holdout and folds: stratified, seeded, time-ordered with ties together, refused clearly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suture.errors import ConfigError
from suture.models.base import Task
from suture.models.split import holdout_split, kfold

BINARY = Task("binary", "churn", ("no", "yes"))
MULTI = Task("multiclass", "species", ("a", "b", "c"))
REGRESSION = Task("regression", "price")


def _labels(counts: list[int], seed: int = 0) -> np.ndarray:
    y = np.repeat(np.arange(len(counts)), counts).astype(float)
    return np.random.default_rng(seed).permutation(y)


def test_holdout_is_stratified_and_covers_every_row_once() -> None:
    y = _labels([900, 100])
    train, test = holdout_split(1000, task=BINARY, y=y, seed=3)
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.array_equal(np.sort(np.r_[train, test]), np.arange(1000))
    assert list(np.bincount(y[test].astype(int))) == [180, 20]
    assert np.all(np.diff(test) > 0) and np.all(np.diff(train) > 0)


def test_holdout_is_deterministic_for_a_seed() -> None:
    y = _labels([50, 30, 20])
    a = holdout_split(100, task=MULTI, y=y, seed=5)
    b = holdout_split(100, task=MULTI, y=y, seed=5)
    c = holdout_split(100, task=MULTI, y=y, seed=6)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_holdout_keeps_a_rare_class_on_both_sides() -> None:
    y = _labels([98, 2])
    train, test = holdout_split(100, task=BINARY, y=y, test_size=0.1)
    assert y[test].sum() == 1 and y[train].sum() == 1


def test_holdout_regression_share() -> None:
    y = np.arange(50, dtype=float)
    train, test = holdout_split(50, task=REGRESSION, y=y, test_size=0.3, seed=1)
    assert (train.size, test.size) == (35, 15)


def test_holdout_by_time_is_the_latest_rows_with_ties_together() -> None:
    # 10 days of 10 rows, shuffled: the latest 20% is exactly the last two days.
    rng = np.random.default_rng(2)
    days = rng.permutation(np.repeat(np.arange(10), 10))
    y = _labels([60, 40])
    train, test = holdout_split(100, task=BINARY, y=y, time=days)
    assert days[test].min() == 8 and days[train].max() == 7 and test.size == 20
    # A cut inside a day moves to the nearer edge of that day: 24% -> days 8 and 9 (20 rows)
    train, test = holdout_split(100, task=BINARY, y=y, time=days, test_size=0.24)
    assert set(days[test]) == {8, 9}
    # ...or back to include day 7 when that edge is nearer: 26% -> 30 rows.
    train, test = holdout_split(100, task=BINARY, y=y, time=days, test_size=0.26)
    assert set(days[test]) == {7, 8, 9} and set(days[train]) == set(range(7))


def test_holdout_by_datetime() -> None:
    times = np.array(["2024-01-03", "2024-01-01", "2024-01-05", "2024-01-02", "2024-01-04"])
    train, test = holdout_split(
        5, task=REGRESSION, y=np.zeros(5), time=times.astype("datetime64[D]"), test_size=0.4
    )
    assert test.tolist() == [2, 4] and train.tolist() == [0, 1, 3]


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(5, 40), min_size=3, max_size=5),
    k=st.integers(2, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_kfold_partitions_and_stratifies(counts: list[int], k: int, seed: int) -> None:
    task = Task("multiclass", "t", tuple(f"c{i}" for i in range(len(counts))))
    y = _labels(counts, seed=seed % 7)
    n = y.size
    folds = kfold(n, k, task=task, y=y, seed=seed)
    assert len(folds) == k
    validated = np.sort(np.concatenate([val for _, val in folds]))
    assert np.array_equal(validated, np.arange(n))
    sizes = [val.size for _, val in folds]
    assert max(sizes) - min(sizes) <= 1
    for train, val in folds:
        assert np.array_equal(np.sort(np.r_[train, val]), np.arange(n))
        per_class = np.bincount(y[val].astype(int), minlength=len(counts))
        assert np.all(np.abs(per_class - np.array(counts) / k) < 1)
    again = kfold(n, k, task=task, y=y, seed=seed)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_kfold_regression_partitions() -> None:
    folds = kfold(23, 4, task=REGRESSION, y=np.zeros(23), seed=9)
    assert sorted(val.size for _, val in folds) == [5, 6, 6, 6]
    assert np.array_equal(np.sort(np.concatenate([v for _, v in folds])), np.arange(23))


def test_kfold_forward_chains_in_time() -> None:
    rng = np.random.default_rng(4)
    days = rng.permutation(np.repeat(np.arange(12), 5))  # 60 rows, 12 days
    folds = kfold(60, 3, task=REGRESSION, y=np.zeros(60), time=days)
    assert [(t.size, v.size) for t, v in folds] == [(15, 15), (30, 15), (45, 15)]
    for train, val in folds:
        assert days[train].max() < days[val].min()  # never judged on the past
    assert np.array_equal(np.sort(days[folds[0][0]]), np.repeat([0, 1, 2], 5))


def test_forward_folds_keep_tied_times_together() -> None:
    days = np.repeat([0, 1, 2, 3], [10, 1, 1, 8])  # cuts at 5, 10, 15 fall inside days
    folds = kfold(20, 3, task=REGRESSION, y=np.zeros(20), time=days)
    for train, val in folds:
        assert not set(days[train]) & set(days[val])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: kfold(10, 5, task=BINARY, y=_labels([7, 3])),
            "class 'yes' of target 'churn' has 3 row\\(s\\), fewer than the 5 needed for "
            "5 folds; add rows of that class, merge it into another, or use fewer folds",
        ),
        (
            lambda: holdout_split(10, task=BINARY, y=_labels([9, 1])),
            "class 'yes' of target 'churn' has 1 row\\(s\\), fewer than the 2 needed for a "
            "train and a test row",
        ),
        (
            lambda: holdout_split(10, task=BINARY, y=_labels([5, 5]), test_size=1.0),
            "test_size must be a share strictly between 0 and 1, got 1.0",
        ),
        (
            lambda: holdout_split(10, task=BINARY, y=_labels([5, 5]), test_size=0),
            "test_size must be a share strictly between 0 and 1, got 0",
        ),
        (
            lambda: kfold(10, 1, task=REGRESSION, y=np.zeros(10)),
            "k must be a whole number of folds from 2 to the rows \\(10\\), got 1",
        ),
        (
            lambda: kfold(10, 2, task=REGRESSION, y=np.zeros(9)),
            "y has 9 values but n is 10; give one per row",
        ),
        (
            lambda: kfold(4, 2, task=BINARY, y=[0, 1, 2, 1]),
            "y must hold class codes 0..1 for the classes \\['no', 'yes'\\]",
        ),
        (
            lambda: holdout_split(
                4, task=REGRESSION, y=np.zeros(4), time=np.array([1.0, np.nan, 2.0, 3.0])
            ),
            "time has 1 missing value\\(s\\); rows without a time cannot be ordered",
        ),
        (
            lambda: holdout_split(4, task=REGRESSION, y=np.zeros(4), time=np.zeros(4)),
            "time has too few distinct values to hold out the latest 20% of the rows",
        ),
        (
            lambda: kfold(6, 3, task=REGRESSION, y=np.zeros(6), time=[0, 0, 0, 1, 1, 1]),
            "time has too few distinct values for 3 forward-chaining folds \\(4 blocks",
        ),
        (
            lambda: kfold(6, 3, task=REGRESSION, y=np.zeros(6), time=list("abcdef")),
            "time must be numbers or datetimes, got an array of <U1",
        ),
        (
            lambda: kfold(6, 3, task=REGRESSION, y=np.zeros(6), seed=1.5),
            "seed must be a whole number, got 1.5",
        ),
    ],
)
def test_bad_splits_are_refused_with_one_sentence(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]
