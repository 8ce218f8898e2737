"""Scoring: the contract first, then features, model and calibration, batch == record.

Bundles come from :mod:`tests.models.test_bundle` (real parts fitted on ISLR Default,
diamonds and iris).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import suture
from suture.errors import ConfigError, RecordError, SchemaError
from suture.features import FeaturePipeline, OneHot, Standardize
from suture.models.base import encode_target
from suture.models.bundle import ModelBundle
from suture.models.result import Candidate, TrainResult
from suture.models.score import score_source
from suture.models.task import infer_task
from suture.schema import Schema
from tests.models.test_bundle import (
    calibrated_bundle,
    default_bundle,
    default_table,
    design_of,
    diamonds_bundle,
    diamonds_table,
    iris_bundle,
    iris_table,
)


def _link(bundle, table: pa.Table) -> np.ndarray:  # type: ignore[no-untyped-def]
    typed = bundle.scoring_contract.validate(table).valid
    return bundle.model.decision_function(bundle.pipeline.transform(typed))


# ----------------------------------------------------------------------------- batches


def test_binary_scores_are_the_calibrated_positive_probability() -> None:
    bundle = default_bundle()
    table = default_table().slice(0, 2000)
    scored = bundle.score(table)
    assert scored.column_names[-2:] == ["prediction", "probability"]
    p = scored.column("probability").to_numpy()
    expected = 1.0 / (1.0 + np.exp(-_link(bundle, table)))
    np.testing.assert_allclose(p, expected, rtol=1e-12, atol=0)
    labels = np.where(p >= 0.5, "true", "false")
    assert scored.column("prediction").to_pylist() == labels.tolist()
    # people with a high balance default more often: the model learned it
    high = table.column("balance").to_numpy() > 2000
    assert p[high].mean() > 5 * p[~high].mean()


def test_regression_prediction_is_the_value() -> None:
    bundle = diamonds_bundle()
    table = diamonds_table().slice(0, 500)
    scored = bundle.score(table)
    assert scored.column_names[-1] == "prediction"
    assert scored.schema.field("prediction").type == pa.float64()
    np.testing.assert_array_equal(scored.column("prediction").to_numpy(), _link(bundle, table))
    price = table.column("price").to_numpy()
    error = np.sqrt(np.mean((scored.column("prediction").to_numpy() - price) ** 2))
    assert error < 0.5 * price.std()  # carat, cut and color explain most of the price


def test_multiclass_gives_one_probability_per_class() -> None:
    bundle = iris_bundle()
    table = iris_table()
    scored = bundle.score(table)
    classes = list(bundle.task.classes)
    names = [f"probability_{c}" for c in classes]
    assert scored.column_names[-4:] == ["prediction", *names]
    p = np.column_stack([scored.column(n).to_numpy() for n in names])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    predicted = [classes[i] for i in np.argmax(p, axis=1)]
    assert scored.column("prediction").to_pylist() == predicted
    accuracy = np.mean(np.array(predicted) == np.array(table.column("species").to_pylist()))
    assert accuracy > 0.9


def test_rows_that_break_the_contract_are_quarantined_not_scored() -> None:
    bundle = diamonds_bundle()
    table = diamonds_table().slice(0, 5)
    cut = table.column("cut").to_pylist()
    cut[1] = "Superb"  # a new category
    carat = table.column("carat").to_pylist()
    carat[3] = -2.0  # out of the contract's range
    bad = table.set_column(0, "carat", pa.array(carat)).set_column(1, "cut", pa.array(cut))
    scored, quarantine = bundle.score_split(bad)
    assert scored.num_rows == 3
    assert quarantine.column("__row").to_pylist() == [1, 3]
    assert quarantine.column("__reasons").to_pylist() == ["level(cut)", "range(carat)"]
    assert scored.column("prediction").to_pylist() == (
        bundle.score(table).column("prediction").take([0, 2, 4]).to_pylist()
    )


def test_a_table_missing_a_feature_column_is_one_clear_sentence() -> None:
    table = default_table().drop_columns(["income"])
    with pytest.raises(SchemaError) as err:
        default_bundle().score(table)
    assert str(err.value) == (
        "the data has no column 'income', which the contract requires; columns are: "
        "default, student, balance"
    )


def test_the_target_and_other_columns_pass_through() -> None:
    scored = default_bundle().score(default_table().slice(0, 10))
    assert scored.column_names == [
        "student",
        "balance",
        "income",
        "default",
        "prediction",
        "probability",
    ]


def test_data_that_already_has_a_prediction_column_is_refused() -> None:
    table = default_table().slice(0, 3).append_column("probability", pa.array([0.1] * 3))
    with pytest.raises(ConfigError, match="already has column 'probability', which scoring"):
        default_bundle().score(table)


def test_an_empty_table_scores_to_an_empty_table() -> None:
    scored = default_bundle().score(default_table().slice(0, 0), explain=2)
    assert scored.num_rows == 0
    assert scored.column_names[-4:] == [
        "prediction",
        "probability",
        "explanation",
        "explanation_base",
    ]


# ----------------------------------------------------------------------------- explain


def test_explanations_are_top_columns_in_input_units_summing_to_the_score() -> None:
    bundle = default_bundle()
    table = default_table().slice(0, 300)
    scored = bundle.score(table, explain=3)
    link = _link(bundle, table)
    rows = scored.column("explanation").to_pylist()
    base = scored.column("explanation_base").to_numpy()
    for i, reasons in enumerate(rows):
        assert {r["column"] for r in reasons} == {"student", "balance", "income"}
        sizes = [abs(r["contribution"]) for r in reasons]
        assert sizes == sorted(sizes, reverse=True)
        total = base[i] + sum(r["contribution"] for r in reasons)
        assert total == pytest.approx(link[i], rel=1e-12, abs=1e-12)
        by_column = {r["column"]: r["value"] for r in reasons}
        assert float(by_column["balance"]) == table.column("balance")[i].as_py()
        assert by_column["student"] in ("true", "false")  # the typed value


def test_explain_one_keeps_the_largest_and_balance_usually_wins() -> None:
    reasons = default_bundle().score(default_table().slice(0, 500), explain=1)
    top = [r[0]["column"] for r in reasons.column("explanation").to_pylist()]
    assert top.count("balance") > 250


def test_a_negative_explain_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="explain must be a whole number of columns, 0 or more"):
        default_bundle().score(default_table().slice(0, 3), explain=-1)


# ----------------------------------------------------------------------------- records

_RECORDS = st.fixed_dictionaries(
    {
        "student": st.sampled_from(["Yes", "No", "yes", None]),
        "balance": st.one_of(st.floats(-10.0, 3100.0, allow_nan=False), st.just(0.0), st.none()),
        "income": st.floats(0.0, 90000.0, allow_nan=False),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RECORDS, min_size=1, max_size=8))
def test_a_record_scores_exactly_as_its_row_in_a_batch(records: list[dict]) -> None:  # type: ignore[type-arg]
    bundle = default_bundle()
    table = pa.Table.from_pylist(
        records,
        schema=pa.schema(
            [("student", pa.string()), ("balance", pa.float64()), ("income", pa.float64())]
        ),
    )
    scored, quarantine = bundle.score_split(table)
    bad = set(quarantine.column("__row").to_pylist())
    answers = iter(scored.to_pylist())
    for i, record in enumerate(records):
        if i in bad:
            with pytest.raises(RecordError):
                bundle.score_record(record)
            continue
        row = next(answers)
        got = bundle.score_record(record)
        assert got == {"prediction": row["prediction"], "probability": row["probability"]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RECORDS, min_size=1, max_size=8), st.sampled_from(["platt", "isotonic"]))
def test_a_calibrated_record_scores_exactly_as_its_row(
    records: list[dict],  # type: ignore[type-arg]
    method: str,
) -> None:
    bundle = calibrated_bundle(method)
    schema = pa.schema(
        [("student", pa.string()), ("balance", pa.float64()), ("income", pa.float64())]
    )
    scored, quarantine = bundle.score_split(pa.Table.from_pylist(records, schema=schema))
    bad = set(quarantine.column("__row").to_pylist())
    rows = iter(scored.to_pylist())
    for i, record in enumerate(records):
        if i not in bad:
            row = next(rows)
            got = bundle.score_record(record)
            assert got == {"prediction": row["prediction"], "probability": row["probability"]}


def test_calibrated_probabilities_are_the_calibrator_of_the_link() -> None:
    for method in ("platt", "isotonic"):
        bundle = calibrated_bundle(method)
        assert bundle.calibrator is not None
        table = default_table().slice(0, 1000)
        p = bundle.score(table).column("probability").to_numpy()
        np.testing.assert_array_equal(p, bundle.calibrator.transform(_link(bundle, table))[:, 1])
    iris = calibrated_bundle("temperature")
    rows = iris.score(iris_table()).to_pylist()
    for record, row in zip(iris_table().to_pylist(), rows, strict=True):
        assert iris.score_record(record) == {n: row[n] for n in iris.outputs}


def test_record_scores_equal_batch_for_regression_and_multiclass() -> None:
    for bundle, table in ((diamonds_bundle(), diamonds_table()), (iris_bundle(), iris_table())):
        sample = table.slice(0, 150)
        scored = bundle.score(sample)
        names = bundle.outputs
        for record, row in zip(sample.to_pylist(), scored.to_pylist(), strict=True):
            assert bundle.score_record(record) == {n: row[n] for n in names}


def test_a_bad_record_names_the_field() -> None:
    with pytest.raises(RecordError) as err:
        default_bundle().score_record({"student": "Yes", "balance": "lots", "income": 1.0})
    assert err.value.field == "balance"
    assert "column 'balance' in the record" in str(err.value)


# ----------------------------------------------------------------------------- sources


def test_score_source_writes_parquet_equal_to_the_table_path(tmp_path: Path) -> None:
    bundle = diamonds_bundle()
    table = diamonds_table()
    cut = table.column("cut").to_pylist()
    cut[7] = "Superb"
    table = table.set_column(1, "cut", pa.array(cut))
    pq.write_table(table, tmp_path / "new.parquet", row_group_size=1000)
    summary = score_source(
        bundle,
        str(tmp_path / "new.parquet"),
        tmp_path / "scored.parquet",
        quarantine=tmp_path / "bad.parquet",
        explain=2,
    )
    assert (summary.rows, summary.scored, summary.quarantined) == (8000, 7999, 1)
    written = pq.read_table(tmp_path / "scored.parquet")
    expected, quarantine = bundle.score_split(table, explain=2)
    assert written.equals(expected)
    assert pq.read_table(tmp_path / "bad.parquet").column("__row").to_pylist() == [7]
    assert quarantine.num_rows == 1


def test_score_source_with_a_missing_column_writes_nothing(tmp_path: Path) -> None:
    pq.write_table(diamonds_table().drop_columns(["cut"]), tmp_path / "new.parquet")
    with pytest.raises(SchemaError, match="has no column 'cut', which the contract requires"):
        score_source(diamonds_bundle(), str(tmp_path / "new.parquet"), tmp_path / "out.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.parquet"]


@pytest.mark.spark
def test_score_source_on_spark_equals_local(tmp_path: Path) -> None:
    bundle = default_bundle()
    table = default_table()
    pq.write_table(table, tmp_path / "new.parquet", row_group_size=2500)
    local = score_source(bundle, str(tmp_path / "new.parquet"), tmp_path / "local.parquet")
    spark = score_source(
        bundle, str(tmp_path / "new.parquet"), tmp_path / "spark", engine="spark", explain=1
    )
    assert (spark.rows, spark.scored) == (local.rows, local.scored) == (10000, 10000)
    mine = pq.read_table(tmp_path / "local.parquet")
    theirs = pq.read_table(tmp_path / "spark").sort_by("income")
    mine = mine.sort_by("income")
    np.testing.assert_array_equal(
        theirs.column("probability").to_numpy(), mine.column("probability").to_numpy()
    )
    assert theirs.column("prediction").to_pylist() == mine.column("prediction").to_pylist()
    assert "explanation" in theirs.column_names
    # a row that breaks the contract stops a scoring without quarantine on Spark too
    balance = table.column("balance").to_pylist()
    balance[4321] = -5.0
    pq.write_table(table.set_column(2, "balance", pa.array(balance)), tmp_path / "bad.parquet")
    with pytest.raises(SchemaError, match=r"row 4321: .* in column 'balance': the row breaks"):
        score_source(bundle, str(tmp_path / "bad.parquet"), tmp_path / "out", engine="spark")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- derived


@functools.cache
def derived_bundle() -> ModelBundle:
    """ISLR Default with a derived column ``load = balance / income`` as a feature, and
    ``balance`` itself left out of the features."""
    from suture.models.linear import Logistic

    table = default_table()
    inferred = Schema.infer(suture.profile(table)).dumps()
    contract = Schema.loads(inferred + '\n[derived.load]\nexpr = "balance / income"\n')
    typed = contract.validate(table).valid
    profile = suture.profile(typed)
    task = infer_task(profile["default"])
    pipeline = FeaturePipeline(numeric=Standardize(), categorical=OneHot()).fit(
        profile, ["student", "income", "load"]
    )
    design = design_of(pipeline, task)
    y = encode_target(typed.column("default"), task)
    model = Logistic().fit(pipeline.transform(typed), y, design=design)
    result = TrainResult(
        task=task,
        contract=contract,
        profile=profile,
        decisions=[],
        candidates=[Candidate("logistic", model, pipeline)],
        winner="logistic",
        calibrator=None,
        sensitivity=[],
        tolerance=0.005,
        given_up="",
        quarantined=0,
        warnings=[],
        lineage={},
    )
    return ModelBundle.from_result(result, created="")


def test_a_derived_column_is_a_feature_and_its_inputs_stay_required() -> None:
    bundle = derived_bundle()
    assert [c.name for c in bundle.scoring_contract.columns] == ["student", "balance", "income"]
    assert [d.name for d in bundle.scoring_contract.derived] == ["load"]
    table = default_table().slice(0, 500)
    scored = bundle.score(table, explain=3)
    assert "load" in scored.column_names
    columns = {r["column"] for r in scored.column("explanation")[0].as_py()}
    assert columns == {"student", "income", "load"}
    for record, row in zip(table.to_pylist(), scored.to_pylist(), strict=True):
        assert bundle.score_record(record) == {
            "prediction": row["prediction"],
            "probability": row["probability"],
        }
    with pytest.raises(SchemaError, match="has no column 'balance', which the contract requires"):
        bundle.score(table.drop_columns(["balance"]))


def test_a_derived_column_that_breaks_is_quarantined_and_refused_as_a_record() -> None:
    bundle = derived_bundle()
    table = pa.table({"student": ["No", "No"], "balance": [100.0, 100.0], "income": [20000.0, 0.0]})
    scored, quarantine = bundle.score_split(table)
    assert scored.num_rows == 1
    assert quarantine.column("__reasons").to_pylist() == ["derived(load)"]
    with pytest.raises(RecordError) as err:
        bundle.score_record({"student": "No", "balance": 100.0, "income": 0.0})
    assert (err.value.field, err.value.kind) == ("load", "derived")


def test_a_record_explanation_equals_its_batch_row_exactly() -> None:
    for bundle, table in (
        (default_bundle(), default_table().slice(0, 300)),
        (iris_bundle(), iris_table()),
        (derived_bundle(), default_table().slice(300, 300)),
    ):
        scored = bundle.score(table, explain=2)
        for record, row in zip(table.to_pylist(), scored.to_pylist(), strict=True):
            got = bundle.score_record(record, explain=2)
            assert {k: got[k] for k in bundle.outputs} == {k: row[k] for k in bundle.outputs}
            assert got["explanation_base"] == row["explanation_base"]
            assert [(r["column"], r["contribution"]) for r in got["explanation"]] == [
                (r["column"], r["contribution"]) for r in row["explanation"]
            ]
            typed = bundle.scoring_contract.coerce(record)
            assert [r["value"] for r in got["explanation"]] == [
                typed[r["column"]] for r in got["explanation"]
            ]
