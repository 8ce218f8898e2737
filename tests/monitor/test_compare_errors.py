"""Bad input to compare, and the ``compare`` command: messages, exit codes, JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

import suture
from suture.cli import main
from suture.errors import (
    EXIT_FOUND,
    EXIT_OK,
    ConfigError,
    CorruptStateError,
    EmptyInputError,
    IncompatibleMergeError,
    OutputError,
)
from suture.monitor import compare
from suture.monitor.cli import compare_command, parse_thresholds

BASE = pa.table({"price": [1.0, 2.0, 3.0, 4.0], "cut": ["a", "b", "a", "b"]})


def test_tables_without_a_shared_column_are_refused_naming_both_column_lists() -> None:
    other = pa.table({"carat": [0.5], "color": ["E"]})
    with pytest.raises(IncompatibleMergeError) as caught:
        compare(BASE, other)
    assert str(caught.value) == (
        "cannot compare: the baseline's columns (price, cut) and the current's (carat, "
        "color) share none; compare profiles of the same table"
    )


def test_a_damaged_profile_is_refused_as_profile_load_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "base.profile"
    suture.profile(BASE).save(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptStateError) as caught:
        compare(path, BASE)
    assert str(caught.value).startswith(f"{path}: SHA-256 mismatch (expected ")
    assert str(caught.value).endswith(
        "the profile was altered or damaged; re-create it with suture profile"
    )
    path.write_bytes(bytes(data[:20]))
    with pytest.raises(CorruptStateError) as short:
        compare(BASE, str(path))
    assert str(short.value) == (
        f"{path}: truncated (20 bytes, expected 42): the file was cut short, perhaps by an "
        "interrupted copy; re-create it with suture profile"
    )


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        (
            {"*": {"psi": (-0.1, 0.2)}},
            "thresholds for '*': psi watch must be 0 or more, got -0.1",
        ),
        (
            {"price": {"ks": {"watch": 0.3, "alert": 0.2}}},
            "thresholds for column 'price': ks watch 0.3 is above alert 0.2; watch must be "
            "at most alert",
        ),
        (
            {"price": {"kss": (0.1, 0.2)}},
            "thresholds for column 'price': unknown metric 'kss'; metrics are: psi, ks, js, "
            "null_rate, out_of_contract",
        ),
        (
            {"prize": {"ks": (0.1, 0.2)}},
            "thresholds name column 'prize', which is not compared; columns are: price, cut "
            "('*' sets every column)",
        ),
        (
            {"*": {"null_rate": (0.1, 1.5)}},
            "thresholds for '*': null_rate alert must be 0 or more and at most 1, got 1.5",
        ),
        (
            {"cut": {"js": {"warn": 0.1}}},
            "thresholds for column 'cut': js has unknown key 'warn'; give 'watch' and/or 'alert'",
        ),
        (
            {"cut": {"js": 0.1}},
            "thresholds for column 'cut': js must be {'watch': W, 'alert': A} or a pair "
            "(W, A), got 0.1",
        ),
        (
            {"cut": {"js": (True, 0.2)}},
            "thresholds for column 'cut': js watch must be a finite number, got True",
        ),
        (
            {"cut": {"psi": (0.1, float("inf"))}},
            "thresholds for column 'cut': psi alert must be a finite number, got inf",
        ),
        (
            {"cut": 0.2},
            "thresholds for column 'cut' must map metric names (psi, ks, js, "
            "null_rate, out_of_contract) to thresholds, got 0.2",
        ),
    ],
)
def test_nonsense_thresholds_are_refused_with_one_clear_sentence(
    thresholds: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        compare(BASE, BASE, thresholds=thresholds)
    assert str(caught.value) == message


def test_nonsense_thresholds_and_a_lone_reference_are_refused_before_reading_data() -> None:
    # Neither side exists: the mistake in the arguments is reported, not the missing file.
    with pytest.raises(ConfigError) as caught:
        compare("missing.parquet", "gone.parquet", thresholds={"*": {"ks": (0.1, 1.5)}})
    assert str(caught.value) == (
        "thresholds for '*': ks alert must be 0 or more and at most 1, got 1.5"
    )
    with pytest.raises(ConfigError) as lone:
        compare("missing.parquet", "gone.parquet", references=["week1.parquet"])
    assert str(lone.value).startswith(
        "learning tolerances needs at least two reference windows, got 1; "
    )


def test_an_empty_side_is_refused() -> None:
    with pytest.raises(EmptyInputError) as caught:
        compare(BASE, BASE.slice(0, 0))
    assert str(caught.value) == (
        "the current side table has no rows: nothing to compare; pass data (or a profile "
        "of data) with at least one row"
    )


def test_an_unknown_column_to_compare_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        compare(BASE, BASE, columns=["price", "carat"])
    assert str(caught.value) == (
        "cannot compare column 'carat': it is not on both sides; shared columns are: price, cut"
    )
    assert [c.name for c in compare(BASE, BASE, columns=["cut"]).columns] == ["cut"]
    with pytest.raises(ConfigError) as empty:
        compare(BASE, BASE, columns=[])
    assert str(empty.value) == (
        "columns is empty: name at least one column to compare, or leave it out to compare "
        "every shared column"
    )


def test_sketches_too_small_for_a_meaningful_ks_bound_are_refused() -> None:
    rng = np.random.default_rng(0)
    values = pa.table({"x": rng.normal(0, 1, 20_000)})
    small, other = suture.profile(values, k=8), suture.profile(values.slice(1), k=8)
    with pytest.raises(IncompatibleMergeError) as caught:
        compare(small, other)
    error = small["x"].rank_error + other["x"].rank_error  # type: ignore[attr-defined]
    assert str(caught.value) == (
        f"cannot compare column 'x': its quantile sketches (k=8 and k=8) give KS "
        f"distances only within ±{error:.3f}, wider than the KS watch threshold 0.1; "
        "re-profile with a larger k (the default is 1024)"
    )


def test_profiles_with_different_sketch_sizes_are_refused_naming_both(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = pa.table({"x": rng.normal(0, 1, 20_000), "c": ["a", "b"] * 10_000})
    suture.profile(values).save(tmp_path / "a.profile")
    suture.profile(values, k=200).save(tmp_path / "b.profile")
    suture.profile(values, lg_k=8, lg_max_map=9).save(tmp_path / "c.profile")
    with pytest.raises(IncompatibleMergeError) as caught:
        compare(tmp_path / "a.profile", tmp_path / "b.profile")
    assert str(caught.value) == (
        f"cannot compare the baseline {tmp_path / 'a.profile'} (k=1024) with the current "
        f"side {tmp_path / 'b.profile'} (k=200): their sketch sizes differ, so their error "
        "bounds do not match; re-profile one side with the other's size, e.g. `suture "
        f"profile DATA --k 1024 -o {tmp_path / 'b.profile'}`"
    )
    with pytest.raises(IncompatibleMergeError) as hll:
        compare(str(tmp_path / "a.profile"), str(tmp_path / "c.profile"))
    assert "(lg_k=12, lg_max_map=11) with the current side" in str(hll.value)
    assert "`suture profile DATA --lg-k 12 --lg-max-map 11 -o " in str(hll.value)
    with pytest.raises(IncompatibleMergeError, match=r"reference window 2 .* \(k=200\)"):
        compare(
            tmp_path / "a.profile", values,
            references=[tmp_path / "a.profile", tmp_path / "b.profile"],
        )  # fmt: skip
    # A side given as data is profiled with the other side's sizes: they agree.
    assert compare(tmp_path / "b.profile", values).verdict == "ok"


# ----------------------------------------------------------------------------- command


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, color_system=None), out


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(7)
    base = pa.table({"amount": rng.normal(100, 10, 5_000), "region": ["n", "s"] * 2_500})
    same = pa.table({"amount": rng.normal(100, 10, 5_000), "region": ["n", "s"] * 2_500})
    moved = pa.table({"amount": rng.normal(130, 10, 5_000), "region": ["n", "s"] * 2_500})
    profile = tmp_path / "base.profile"
    suture.profile(base).save(profile)
    pq.write_table(same, tmp_path / "same.parquet")
    pq.write_table(moved, tmp_path / "moved.parquet")
    return profile, tmp_path / "same.parquet", tmp_path / "moved.parquet"


def test_command_exit_codes_table_and_json(tmp_path: Path) -> None:
    profile, same, moved = _files(tmp_path)
    console, out = _console()
    assert compare_command(profile, same, console=console) == EXIT_OK
    assert "verdict: ok" in out.getvalue()
    console, out = _console()
    target = tmp_path / "drift.json"
    assert compare_command(profile, moved, json_path=target, console=console) == EXIT_FOUND
    text = out.getvalue()
    assert "amount" in text and "alert" in text and "verdict: alert" in text
    data = json.loads(target.read_text())
    assert data["verdict"] == "alert"
    assert [c["name"] for c in data["columns"]] == ["amount", "region"]
    assert data["columns"][0]["verdict"] == "alert" and data["columns"][1]["verdict"] == "ok"


def test_command_refuses_an_unwritable_json_path_before_reading(tmp_path: Path) -> None:
    profile, same, _ = _files(tmp_path)
    with pytest.raises(OutputError):
        compare_command(profile, same, json_path=tmp_path / "missing" / "x.json")


def test_the_command_line_parses_options_and_returns_the_exit_code(tmp_path: Path) -> None:
    profile, _, moved = _files(tmp_path)
    loose = ["--threshold", "psi=5,9", "-t", "ks=0.9,0.95", "-t", "amount:js=0.9,0.95"]
    args = ["compare", str(profile), str(moved), "--column", "amount", *loose]
    assert main(args) == EXIT_OK
    assert main(["compare", str(profile), str(moved), "--json", str(tmp_path / "r.json")]) == (
        EXIT_FOUND
    )
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "alert"


def test_threshold_options_parse_and_refuse_other_forms() -> None:
    assert parse_thresholds(["psi=0.2,0.4", "a:b:ks=0.1,0.3"]) == {
        "*": {"psi": (0.2, 0.4)},
        "a:b": {"ks": (0.1, 0.3)},
    }
    for bad in ("psi", "psi=0.2", ":psi=0.1,0.2", "psi=x,0.2"):
        with pytest.raises(ConfigError, match="--threshold"):
            parse_thresholds([bad])
    with pytest.raises(ConfigError) as caught:
        parse_thresholds(["psi=0.2"])
    assert str(caught.value) == (
        "--threshold 'psi=0.2': expected [COLUMN:]METRIC=WATCH,ALERT (for example "
        "'price:psi=0.2,0.4' or 'ks=0.1,0.3')"
    )


def test_compare_is_exported_lazily_from_the_package() -> None:
    assert suture.compare is compare
    assert "compare" in suture.__all__ and "compare" in dir(suture)


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_table_shows_every_verdict_and_prints_values_as_plain_text(width: int) -> None:
    from suture.monitor import render_comparison

    rng = np.random.default_rng(0)
    a = pa.table({"delay": rng.normal(0, 1, 5_000), "carrier": ["AA", "[bold]x[/bold]"] * 2_500})
    b = pa.table({"delay": rng.normal(0.6, 1, 5_000), "carrier": ["AA", "ZZ"] * 2_500})
    out = io.StringIO()
    render_comparison(compare(a, b), Console(file=out, width=width, color_system=None))
    rows = [line.split()[:2] for line in out.getvalue().splitlines()]
    assert rows[2] == ["column", "verdict"]
    assert rows[4] == ["delay", "alert"] and rows[5] == ["carrier", "alert"]
    assert "  carrier: vanished levels [bold]x[/bold]" in out.getvalue().splitlines()
    assert out.getvalue().splitlines()[-1] == "verdict: alert"
