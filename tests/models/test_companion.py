"""The log1p companion of a number in the linear style: features, images, exact bounds."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import suture
from suture.errors import ConfigError, CorruptStateError
from suture.features import FeaturePipeline
from suture.features.transforms import Standardize, transform_from_dict
from suture.models import Design, Task
from suture.models.linear import Logistic
from suture.models.robustness import sensitivity

BINARY = Task("binary", "y", ("0", "1"))


def _table(n: int = 2000) -> tuple[pa.Table, np.ndarray]:
    rng = np.random.default_rng(0)
    tenure = rng.uniform(0.0, 72.0, n)
    signed = rng.normal(0.0, 1.0, n)
    flag = (rng.random(n) < 0.3).astype(np.float64)
    logit = 2.0 - 1.2 * np.log1p(tenure) + 0.02 * tenure + 0.5 * signed + 0.3 * flag
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    missing = rng.random(n) < 0.05
    table = pa.table(
        {
            "tenure": pa.array(tenure, mask=missing),
            "signed": signed,
            "flag": flag,
        }
    )
    return table, y


def test_a_number_of_positives_gets_its_log1p_beside_it() -> None:
    table, _ = _table()
    profile = suture.profile(table)
    pipeline = FeaturePipeline(numeric=Standardize(companion=True)).fit(profile)
    # a signed number, and one of two values, get no companion
    assert pipeline.feature_names_ == [
        "tenure", "log1p(tenure)", "tenure=<missing>", "signed", "flag",
    ]  # fmt: skip
    x = pipeline.transform(table)
    t = pipeline.transforms_["tenure"]
    assert t.companion_ is not None
    centre, scale = t.companion_
    present = ~np.isnan(table["tenure"].to_numpy(zero_copy_only=False))
    raw = np.clip(table["tenure"].to_numpy(zero_copy_only=False)[present], t.low_, t.high_)
    np.testing.assert_allclose(x[present, 1], (np.log1p(raw) - centre) / scale, rtol=1e-12)
    assert (x[~present, 1] == 0.0).all() and (x[~present, 2] == 1.0).all()
    for i, record in enumerate(table.slice(0, 200).to_pylist()):
        assert np.array_equal(pipeline.transform_record(record), x[i])
    plain = FeaturePipeline().fit(profile)
    assert plain.feature_names_ == ["tenure", "tenure=<missing>", "signed", "flag"]


def test_the_companion_image_round_trips_and_old_images_read_without_it() -> None:
    table, _ = _table()
    summary = suture.profile(table)["tenure"]
    t = Standardize(companion=True).fit(summary)
    again = transform_from_dict(t.to_dict())
    assert again.feature_names_ == t.feature_names_
    assert np.array_equal(
        again.transform_array(table["tenure"]), t.transform_array(table["tenure"])
    )
    old = t.to_dict()
    del old["state"]["companion"]
    assert transform_from_dict(old).feature_names_ == ["tenure", "tenure=<missing>"]
    old["state"]["companion"] = [1.0]
    with pytest.raises(CorruptStateError, match="companion must be two floats"):
        transform_from_dict(old)
    with pytest.raises(ConfigError, match="Standardize companion must be True or False"):
        Standardize(companion="yes").fit(summary)  # type: ignore[arg-type]
    logged = Standardize(log=True, companion=True).fit(summary)
    assert logged.companion_ is None


def test_the_bound_of_a_bending_contribution_is_its_turning_point() -> None:
    """log1p beside the number makes a column's contribution bend; the exact bound must
    find the extreme between the clip bounds, not only at them."""
    table, y = _table()
    profile = suture.profile(table)
    pipeline = FeaturePipeline(numeric=Standardize(companion=True)).fit(profile)
    design = pipeline.design(BINARY)
    model = Logistic(alpha=1.0).fit(pipeline.transform(table), y, design=design)
    j = design.features.index("tenure")
    a, b = model.coef_[j, 0], model.coef_[j + 1, 0]
    assert a * b < 0  # it bends: falling, then rising (or the other way)
    bounds = {s.column: s for s in sensitivity(pipeline, model, profile=profile)}
    t = pipeline.transforms_["tenure"]
    grid = np.linspace(t.low_, t.high_, 20001)
    block = np.column_stack(
        [(grid - t.mean_) / t.scale_, (np.log1p(grid) - t.companion_[0]) / t.companion_[1]]
    )
    contribution = block @ np.array([a, b])
    missing = float(model.coef_[j + 2, 0])  # the missing row: both features 0, indicator 1
    values = np.append(contribution, missing)
    brute = float(values.max() - values.min())
    assert bounds["tenure"].method == "exact"
    assert bounds["tenure"].largest >= brute - 1e-9
    assert bounds["tenure"].largest <= brute + 1e-6
    assert math.isfinite(bounds["tenure"].perturbation)


def test_design_of_the_companion_keeps_it_in_the_column_block() -> None:
    table, _ = _table()
    pipeline = FeaturePipeline(numeric=Standardize(companion=True)).fit(suture.profile(table))
    design: Design = pipeline.design(BINARY)
    assert design.blocks()["tenure"] == [0, 1, 2]
