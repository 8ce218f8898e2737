"""Hashing: a stable key shared with the sketches, signed buckets, batch equals record."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError, RecordError
from suture.features import Hashing
from suture.features.hashing import string_key
from suture.features.transforms import transform_from_dict
from suture.sketches.hashing import string_keys


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=20))
def test_string_key_is_the_sketches_key(texts: list[str]) -> None:
    assert [string_key(t) for t in texts] == string_keys(pa.array(texts)).tolist()


def test_keys_are_stable_across_versions() -> None:
    # written down once: a change here would send served records to other buckets
    assert string_key("") == 0
    assert string_key("churn") == 18264482070985293422
    assert [string_key(t) % 32 for t in ("churn", "Ohio", "日本")] == [14, 0, 4]


@pytest.fixture(scope="module")
def hashing() -> Hashing:
    ids = pa.array([f"customer-{i}" if i % 30 else None for i in range(3000)])
    return Hashing().fit(suture.profile(pa.table({"who": ids}))["who"])


def test_signed_buckets(hashing: Hashing) -> None:
    texts = [f"value {i}" for i in range(20_000)]
    x = hashing.transform_array(pa.array(texts))
    assert x.shape == (20_000, 33)
    assert (np.abs(x).sum(axis=1) == 1.0).all() and not x[:, 32].any()
    per_bucket = np.abs(x[:, :32]).sum(axis=0)
    # 20,000 values over 32 buckets: 625 each, binomial sd about 24.6
    assert per_bucket.min() > 625 - 5 * 25 and per_bucket.max() < 625 + 5 * 25
    assert 0.45 < (x == -1.0).sum() / 20_000 < 0.55


def test_record_equals_batch(hashing: Hashing) -> None:
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.none() | st.text(), min_size=1, max_size=20))
    def check(values: list[str | None]) -> None:
        for array in (pa.array(values, pa.string()), pa.array(values, pa.large_string())):
            batch = hashing.transform_array(array)
            batch_dict = hashing.transform_array(array.dictionary_encode())
            assert np.array_equal(batch, batch_dict)
            for row, v in zip(batch, values, strict=True):
                out = [0.0] * hashing.n_features_
                hashing.transform_value(v, out, 0)
                assert np.array_equal(row, out)

    check()


def test_nulls(hashing: Hashing) -> None:
    assert hashing.transform_array(pa.array([None], pa.string())).tolist() == [[0.0] * 32 + [1.0]]
    plain = Hashing(n_buckets=2).fit(suture.profile(pa.table({"c": ["a", "b"]}))["c"])
    assert plain.feature_names_ == ["c=<hash 0>", "c=<hash 1>"]
    assert plain.transform_array(pa.array([None], pa.string())).tolist() == [[0.0, 0.0]]


def test_critical_values_attain_every_output(hashing: Hashing) -> None:
    values = hashing.critical_values()
    assert values[-1] is None and len(values) == 2 * 32 + 1
    out = hashing.transform_array(pa.array(values, pa.string()))
    expected = {tuple(r) for r in np.vstack([np.eye(33), -np.eye(33)[:32]])}
    assert {tuple(r) for r in out} == expected


def test_image_and_errors(hashing: Hashing) -> None:
    again = transform_from_dict(json.loads(json.dumps(hashing.to_dict())))
    array = pa.array(["a", None, "zz"])
    assert np.array_equal(again.transform_array(array), hashing.transform_array(array))
    with pytest.raises(ConfigError) as info:
        Hashing(n_buckets=0).fit(suture.profile(pa.table({"c": ["a"]}))["c"])
    assert str(info.value) == "Hashing n_buckets must be a whole number of 1 or more, got 0"
    with pytest.raises(ConfigError) as info:
        Hashing().fit(suture.profile(pa.table({"x": [1.0]}))["x"])
    assert str(info.value) == (
        "Hashing needs a string column, but 'x' is numeric; use Standardize or Bins for numbers"
    )
    with pytest.raises(RecordError) as rec:
        hashing.transform_value(12, [0.0] * 33, 0)
    assert str(rec.value) == "column 'who': expected a string or None, got 12"
