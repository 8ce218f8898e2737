"""Thresholds from a contract, the out-of-contract rate, and learned tolerances."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import suture
from suture.errors import ConfigError, SchemaError
from suture.monitor import compare
from suture.monitor.cli import compare_command
from suture.monitor.thresholds import DEFAULT_THRESHOLDS, Threshold, learned_thresholds
from suture.schema import Schema

GOLDEN = Path(__file__).parent.parent / "golden" / "contract_v1.toml"

CONTRACT = """\
[contract]
format = 1

[columns.price]
type = "number"
nullable = false
min = 0
max = 100
drift = { psi = [0.2, 0.4], ks = { watch = 0.05 } }

[columns.cut]
type = "categorical"
nullable = true
levels = ["good", "ideal"]
open = false
"""


def _data(seed: int, rows: int, *, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    price = np.clip(rng.normal(50.0 + shift, 10.0, rows), 0.0, 100.0)
    cut = np.array(["good", "ideal"])[rng.integers(0, 2, rows)]
    return pa.table({"price": price, "cut": cut})


def test_a_contract_sets_per_column_thresholds_that_the_command_line_overrides() -> None:
    contract = Schema.loads(CONTRACT)
    base, now = _data(0, 20_000), _data(1, 20_000)
    result = compare(base, now, schema=contract)
    assert result["price"].thresholds["psi"] == Threshold(0.2, 0.4)
    assert result["price"].thresholds["ks"] == Threshold(0.05, 0.2)
    assert result["price"].thresholds["js"] == DEFAULT_THRESHOLDS["js"]
    assert result["cut"].thresholds == DEFAULT_THRESHOLDS
    cli = {"*": {"psi": (0.3, 0.5)}, "price": {"ks": (0.07, 0.3)}}
    over = compare(base, now, schema=contract, thresholds=cli)
    assert over["price"].thresholds["psi"] == Threshold(0.3, 0.5)
    assert over["price"].thresholds["ks"] == Threshold(0.07, 0.3)
    assert over["cut"].thresholds["psi"] == Threshold(0.3, 0.5)


def test_a_tighter_contract_threshold_changes_the_verdict() -> None:
    base, now = _data(2, 20_000), _data(3, 20_000, shift=1.5)  # KS about 0.06
    assert compare(base, now)["price"].verdict == "ok"
    tight = compare(base, now, schema=Schema.loads(CONTRACT))["price"]
    assert tight.verdict == "watch"
    assert any(r.startswith("ks ") and r.endswith("above 0.05 (watch)") for r in tight.reasons)


def test_drift_thresholds_survive_a_save_and_leave_the_fingerprint(tmp_path: Path) -> None:
    contract = Schema.loads(CONTRACT)
    plain = Schema.loads(CONTRACT.replace("drift = { psi = [0.2, 0.4], ks = { watch = 0.05 } }\n",
                                          ""))  # fmt: skip
    assert contract.fingerprint == plain.fingerprint
    assert contract.drift == {"price": {"psi": (0.2, 0.4), "ks": (0.05, 0.2)}}
    again = Schema.load(contract.save(tmp_path / "c.toml"))
    assert again.drift == contract.drift
    assert "drift = { psi = [0.2, 0.4], ks = [0.05, 0.2] }" in again.dumps()


def test_the_golden_contract_still_loads_without_drift_thresholds() -> None:
    golden = Schema.load(GOLDEN)
    assert golden.drift == {}
    assert golden.fingerprint == "7e4a08a464cc089e"


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        (
            "{ psi = [0.5, 0.4] }",
            "psi watch 0.5 is above alert 0.4; watch must be at most alert",
        ),
        ("{ ks = [-0.1, 0.2] }", "ks watch must be 0 or more and at most 1, got -0.1"),
        ("{ kss = [0.1, 0.2] }",
         "unknown metric 'kss'; metrics are: psi, ks, js, null_rate, out_of_contract"),
        ("0.3", "drift must map metric names (psi, ks, js, null_rate, out_of_contract) to "
                "thresholds, got 0.3"),
    ],
)  # fmt: skip
def test_nonsense_contract_thresholds_name_the_file_line_and_field(
    drift: str, message: str
) -> None:
    text = CONTRACT.replace("{ psi = [0.2, 0.4], ks = { watch = 0.05 } }", drift)
    with pytest.raises(SchemaError) as caught:
        Schema.loads(text, "c.toml")
    assert str(caught.value) == f"c.toml line 9, column 'price', field 'drift': {message}"


def test_contract_thresholds_given_in_python_are_checked() -> None:
    columns = Schema.loads(CONTRACT).columns
    with pytest.raises(ConfigError) as caught:
        Schema(columns, drift={"prize": {"psi": (0.1, 0.2)}})
    assert str(caught.value) == (
        "drift thresholds name column 'prize', which the contract does not have; columns "
        "are: price, cut"
    )


def test_the_out_of_contract_rate_is_the_share_of_rows_breaking_each_column() -> None:
    base = _data(4, 10_000)
    now = _data(5, 10_000)
    price = now["price"].to_numpy().copy()
    price[:150] = -5.0  # 1.5% below the contract's minimum
    cut = now["cut"].to_numpy(zero_copy_only=False).copy()
    cut[-30:] = "fair"  # 0.3% outside the closed levels
    now = pa.table({"price": price, "cut": cut})
    result = compare(base, now, schema=Schema.loads(CONTRACT))
    assert result["price"].out_of_contract == 0.015
    assert result["cut"].out_of_contract == 0.003
    assert result.out_of_contract == 0.018
    assert result["price"].verdict == "alert"
    assert "out_of_contract 1.50% of current rows break the contract, above 0.01 (alert)" in (
        result["price"].reasons
    )
    assert result["cut"].verdict == "watch"
    data = result.to_dict()
    assert data["out_of_contract"] == 0.018 and data["columns"][0]["out_of_contract"] == 0.015


def test_without_a_contract_or_with_a_profile_the_rate_is_not_claimed() -> None:
    base, now = _data(6, 1_000), _data(7, 1_000)
    assert math.isnan(compare(base, now)["price"].out_of_contract)
    result = compare(base, suture.profile(now), schema=Schema.loads(CONTRACT))
    assert math.isnan(result["price"].out_of_contract) and math.isnan(result.out_of_contract)
    assert result.notes == (
        "the current side is a profile: the out-of-contract rate needs its data",
    )
    # Its thresholds still apply.
    assert result["price"].thresholds["psi"] == Threshold(0.2, 0.4)


def test_current_data_without_a_contract_column_is_refused() -> None:
    base = _data(8, 100)
    with pytest.raises(SchemaError, match="has no column 'cut', which the contract requires"):
        compare(base, base.drop_columns(["cut"]), schema=Schema.loads(CONTRACT))


def test_learned_thresholds_widen_to_the_largest_move_and_keep_the_ratio() -> None:
    base = DEFAULT_THRESHOLDS
    learned = learned_thresholds(base, {"psi": 0.2, "ks": 0.05, "js": math.nan})
    assert learned["psi"] == Threshold(0.2, 0.5)
    assert learned["ks"] == base["ks"] and learned["js"] == base["js"]
    assert learned_thresholds(base, {"ks": 0.8})["ks"] == Threshold(0.8, 1.0)


def _weekly(seed: int, rows: int, level: float) -> pa.Table:
    """A seasonal amount whose level moves by week; a stable column beside it."""
    rng = np.random.default_rng(seed)
    return pa.table({"amount": rng.normal(level, 1.0, rows), "stable": rng.normal(0, 1, rows)})


def test_tolerances_learned_from_reference_windows_quiet_a_seasonal_column() -> None:
    weeks = [_weekly(s, 20_000, level) for s, level in enumerate([0.0, 0.35, -0.3, 0.1])]
    base, now = weeks[0], _weekly(9, 20_000, 0.3)
    frozen = compare(base, now)
    assert frozen["amount"].verdict == "watch"  # KS about 0.12 from one frozen week
    learned = compare(base, now, references=weeks)
    assert learned["amount"].verdict == "ok"
    moved = learned.learned["amount"]["ks"]
    assert 0.2 < moved < 0.3  # weeks 1 and 2 differ by 0.65 sd
    assert learned["amount"].thresholds["ks"].watch == moved
    # The stable column learned little and keeps the defaults: a real drift still alerts.
    assert learned["stable"].thresholds == frozen["stable"].thresholds
    shifted = pa.table({"amount": now["amount"], "stable": now["stable"].to_numpy() + 1.0})
    assert compare(base, shifted, references=weeks)["stable"].verdict == "alert"


def test_fewer_than_two_reference_windows_are_refused() -> None:
    t = _weekly(0, 100, 0.0)
    with pytest.raises(ConfigError) as caught:
        compare(t, t, references=[t])
    assert str(caught.value) == (
        "learning tolerances needs at least two reference windows, got 1; pass --reference "
        "once per window (for example one per week)"
    )


def test_the_command_reads_the_contract_and_exits_2_on_a_bad_one(tmp_path: Path) -> None:
    base, now = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(_data(0, 5_000), base)
    pq.write_table(_data(1, 5_000, shift=1.5), now)
    good = tmp_path / "c.toml"
    good.write_text(CONTRACT)
    assert compare_command(base, now) == 0
    assert compare_command(base, now, schema=good) == 0  # watch only
    assert compare_command(base, now, schema=good, thresholds={"price": {"ks": (0.01, 0.02)}}) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text(CONTRACT.replace("[0.2, 0.4]", "[0.4, 0.2]"))
    from suture.cli import main

    assert main(["compare", str(base), str(now), "--schema", str(bad)]) == 2
