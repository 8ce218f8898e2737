"""``suture monitor``: timelines from a folder of profiles, appends, anomalies, the page."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from rich.console import Console

import suture
from suture.cli import main
from suture.errors import (
    ConfigError,
    CorruptStateError,
    EmptyInputError,
    IncompatibleMergeError,
    SourceError,
)
from suture.monitor.cli import monitor_command
from suture.monitor.series import (
    METRIC_NAMES,
    MIN_PERIODS,
    build_timeline,
    discover,
    robust_anomalies,
    write_timeline,
)
from suture.profile import Profile
from tests.monitor.test_compare_html import _parsed, screenshot


def _day(i: int, rows: int = 3_000, *, jump: bool = False) -> pa.Table:
    """A day of data: ``amount`` normal (mean 10 + a tiny weekly wave), ``kind`` levels."""
    rng = np.random.default_rng(i)
    amount = rng.normal(10.0 + 0.05 * math.sin(i), 2.0, rows)
    if jump:
        amount = amount * 60.0  # minutes sent as seconds
    kind = np.array(["a", "b", "c"])[rng.choice(3, rows, p=[0.5, 0.3, 0.2])]
    nulls = rng.random(rows) < 0.01
    return pa.table({"amount": pa.array(amount, mask=nulls), "kind": kind})


def _folder(root: Path, days: int, *, jump_at: int | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(days):
        suture.profile(_day(i, jump=i == jump_at)).save(root / f"2026-11-{i + 1:02d}.profile")
    return root


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _folder(tmp_path_factory.mktemp("days"), 8)


def test_metrics_of_each_period_come_from_its_profile(profiles: Path, tmp_path: Path) -> None:
    timeline = build_timeline(profiles)
    assert [p.name for p in timeline.periods] == [f"2026-11-{i:02d}" for i in range(1, 9)]
    assert timeline.periods[0].time == "2026-11-01T00:00:00"
    assert timeline.columns == ["amount", "kind"]
    third = Profile.load(profiles / "2026-11-03.profile")
    m = timeline.periods[2].metrics["amount"]
    assert list(m) == list(METRIC_NAMES)
    assert m["mean"] == third["amount"].mean  # type: ignore[attr-defined]
    assert m["p50"] == third["amount"].quantile(0.5).value  # type: ignore[attr-defined]
    assert m["null_rate"] == third["amount"].nulls / third["amount"].count
    assert m["rows"] == 3_000
    first = timeline.periods[0].metrics["amount"]
    assert first["psi_baseline"] == 0.0 and math.isnan(first["psi_previous"])
    assert 0 < m["ks_previous"] < 0.1 and 0 < m["ks_baseline"] < 0.1
    assert math.isnan(timeline.periods[2].metrics["kind"]["ks_baseline"])
    assert 0 <= timeline.periods[2].metrics["kind"]["psi_baseline"] < 0.01


def test_appending_a_period_equals_a_full_rebuild_and_loads_only_three_profiles(
    tmp_path: Path, profiles: Path
) -> None:
    folder = tmp_path / "days"
    shutil.copytree(profiles, folder)
    out = tmp_path / "out"
    write_timeline(build_timeline(folder, out), out)
    suture.profile(_day(8)).save(folder / "2026-11-09.profile")
    loaded: list[str] = []

    def counting(path: Path) -> Profile:
        loaded.append(path.stem)
        return Profile.load(path)

    appended = build_timeline(folder, out, load=counting)
    # The baseline, the last known period (for "vs previous") and the new one: no more.
    assert sorted(loaded) == ["2026-11-01", "2026-11-08", "2026-11-09"]
    assert appended.computed == ("2026-11-09",)
    write_timeline(appended, out)
    fresh_out = tmp_path / "fresh"
    fresh = build_timeline(folder, fresh_out)
    assert len(fresh.computed) == 9
    write_timeline(fresh, fresh_out)
    for name in ("timeline.json", "state.json", "timeline.html"):
        assert (out / name).read_bytes() == (fresh_out / name).read_bytes(), name


def test_a_changed_earlier_profile_or_another_baseline_rebuilds(
    tmp_path: Path, profiles: Path
) -> None:
    folder = tmp_path / "days"
    shutil.copytree(profiles, folder)
    out = tmp_path / "out"
    write_timeline(build_timeline(folder, out), out)
    assert build_timeline(folder, out).computed == ()
    suture.profile(_day(99)).save(folder / "2026-11-03.profile")
    assert build_timeline(folder, out).computed[0] == "2026-11-01"
    other = build_timeline(profiles, out, baseline="2026-11-02")
    assert len(other.computed) == 8 and other.baseline == "2026-11-02"
    assert other.periods[1].metrics["amount"]["psi_baseline"] == 0.0


def test_a_unit_change_is_flagged_as_an_anomaly_and_quiet_series_are_not(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path / "days", 10, jump_at=9)
    out = tmp_path / "out"
    code = monitor_command(folder, out)
    assert code == 1
    data = json.loads((out / "timeline.json").read_text())
    flagged = {(a["period"], a["column"], a["metric"]) for a in data["anomalies"]}
    for metric in ("mean", "p05", "p50", "p95", "ks_baseline", "psi_previous"):
        assert ("2026-11-10", "amount", metric) in flagged
    assert all(a["column"] == "amount" and a["period"] == "2026-11-10" for a in data["anomalies"])
    mean = next(a for a in data["anomalies"] if a["metric"] == "mean")
    assert mean["direction"] == "up" and mean["z"] > 100
    # Without the last day nothing is flagged: the exit code is 0.
    (folder / "2026-11-10.profile").unlink()
    assert monitor_command(folder, tmp_path / "out2") == 0


def test_robust_z_scores_need_history_and_flag_beyond_3_5() -> None:
    values = [10.0, 11.0, 9.0, 10.5, 9.5, 10.0, 13.0, 10.05]
    flags, z = robust_anomalies(values)
    assert flags == [False] * 6 + [True, False]
    assert all(math.isnan(x) for x in z[:5])
    history = np.array(values[:6])
    mad = np.median(np.abs(history - np.median(history)))
    assert z[6] == pytest.approx(0.6745 * (13.0 - np.median(history)) / mad)
    # A zero series flags any departure; NaN points are skipped.
    flags, z = robust_anomalies([0.0] * 5 + [math.nan, 0.0, 1e-6])
    assert flags == [False] * 7 + [True] and z[7] == math.inf


def test_five_periods_that_agree_by_chance_do_not_make_noise_an_anomaly() -> None:
    # Regression: the 6th of 8 quiet days had p05 at robust z -15 because five periods'
    # MAD was a fifth of the day-to-day noise; the 1% floor keeps such noise quiet.
    values = [6.70, 6.71, 6.70, 6.69, 6.70, 6.63]
    assert robust_anomalies(values, relative=0.0)[0][-1] is True
    assert robust_anomalies(values)[0][-1] is False
    # A drift metric must move by its watch threshold: 0.004 -> 0.09 PSI is no anomaly.
    psi = [0.001, 0.002, 0.001, 0.0015, 0.001, 0.09]
    assert robust_anomalies(psi, min_move=0.1)[0][-1] is False
    assert robust_anomalies([*psi, 0.2], min_move=0.1)[0][-1] is True


def test_periods_are_ordered_by_their_time_stamps(tmp_path: Path) -> None:
    p = suture.profile(_day(0, 100))
    for name in ("b-2026-11-02T06", "a-2026-11-02T18", "c-2026-11-01"):
        p.save(tmp_path / f"{name}.profile")
    found = discover(tmp_path)
    assert [(n, t) for n, t, _ in found] == [
        ("c-2026-11-01", "2026-11-01T00:00:00"),
        ("b-2026-11-02T06", "2026-11-02T06:00:00"),
        ("a-2026-11-02T18", "2026-11-02T18:00:00"),
    ]
    p.save(tmp_path / "batch.profile")  # no stamp: every period is ordered by name
    assert next(n for n, _, _ in discover(tmp_path)) == "a-2026-11-02T18"


def test_bad_folders_states_and_baselines_are_refused_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such folder"):
        discover(tmp_path / "nope")
    suture.profile(_day(0, 100)).save(tmp_path / "2026-11-01.profile")
    with pytest.raises(SourceError) as caught:
        discover(tmp_path)
    assert str(caught.value).endswith("1 .profile file(s); a timeline needs at least two "
                                      "periods (suture profile DATA -o "
                                      "FOLDER/2026-11-01.profile, one per period)")  # fmt: skip
    suture.profile(_day(1, 100)).save(tmp_path / "2026-11-02.profile")
    with pytest.raises(ConfigError) as bad_base:
        build_timeline(tmp_path, baseline="2026-10-31")
    assert str(bad_base.value) == (
        f"--baseline '2026-10-31' names no period of {tmp_path}; periods are: 2026-11-01, "
        "2026-11-02"
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "state.json").write_text("{not json")
    with pytest.raises(CorruptStateError, match="not a readable monitor state"):
        build_timeline(tmp_path, out)
    assert main(["monitor", str(tmp_path), "-o", str(out)]) == 2


def test_the_timeline_page_is_offline_and_marks_anomalies(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "days", 7, jump_at=6)
    out = tmp_path / "out"
    monitor_command(folder, out)
    page = (out / "timeline.html").read_text(encoding="utf-8")
    tags = _parsed(page)
    for tag, attrs in tags.tags:
        assert tag not in {"script", "link", "img", "iframe", "object", "embed", "image"}
        for key in ("src", "href", "xlink:href", "action"):
            assert not re.match(r"(?i)\s*(https?:|//|data:)", attrs.get(key) or "")
    assert "url(" not in page
    assert page.count('class="chart series"') == 13 + 7  # amount: every metric; kind: 7
    assert page.count('fill="#b2182b"') >= 4  # anomalies as red points
    assert '<section id="anomalies"><h2>Anomalies</h2>' in page


def test_chromium_renders_the_timeline_offline(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "days", 7, jump_at=6)
    monitor_command(folder, tmp_path / "out")
    pixels = screenshot(tmp_path / "out" / "timeline.html", tmp_path, 1200, 1800)
    colors, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)

    def share(rgb: tuple[int, int, int]) -> float:
        hit = (colors == rgb).all(axis=1)
        return float(counts[hit].sum()) / pixels.shape[0] / pixels.shape[1]

    assert share((0x1F, 0x29, 0x37)) > 0.03  # the dark header: the inline CSS applied
    assert share((0xB2, 0x18, 0x2B)) > 0.0002  # anomalies drawn as red points
    assert len(colors) > 100  # text, lines and charts, not a blank page


def _drifted_folder(root: Path) -> Path:
    """Three periods: the baseline, then two whose ``amount`` is in minutes (KS 1.0)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        suture.profile(_day(i, jump=i > 0)).save(root / f"2026-11-{i + 1:02d}.profile")
    return root


def test_a_profile_of_another_table_in_the_folder_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    # Regression: a profile sharing no column with the baseline was taken in silently
    # (exit 0, the union of the columns, no drift).
    folder = _folder(tmp_path / "days", 2)
    other = pa.table({"carat": np.linspace(0.2, 2.0, 100), "color": ["E", "F"] * 50})
    suture.profile(other).save(folder / "2026-11-03.profile")
    with pytest.raises(IncompatibleMergeError) as caught:
        build_timeline(folder)
    assert str(caught.value) == (
        f"{folder / '2026-11-03.profile'}: shares no column with the baseline "
        "2026-11-01.profile (its columns: carat, color; the baseline's: amount, kind); a "
        "monitor folder holds profiles of one table: move 2026-11-03.profile to a folder of "
        "its own"
    )
    out = tmp_path / "out"
    assert main(["monitor", str(folder), "-o", str(out)]) == 2
    assert not out.exists()


def test_a_profile_with_too_small_sketches_is_refused_as_compare_refuses_it(
    tmp_path: Path,
) -> None:
    # Regression: profiles with KLL k=8 (a KS bound of about ±0.3, wider than the KS
    # watch threshold) were accepted, their KS series meaningless.
    folder = tmp_path / "days"
    folder.mkdir()
    for i in range(3):
        suture.profile(_day(i), k=8).save(folder / f"2026-11-{i + 1:02d}.profile")
    first, second = folder / "2026-11-01.profile", folder / "2026-11-02.profile"
    with pytest.raises(IncompatibleMergeError) as in_compare:
        suture.compare(first, second)
    shape = re.compile(
        r"cannot compare column 'amount': its quantile sketches \(k=8 and k=8\) give KS "
        r"distances only within ±0\.\d{3}, wider than the KS watch threshold 0\.1; "
        r"re-profile with a larger k \(the default is 1024\)"
    )
    assert shape.fullmatch(str(in_compare.value))
    with pytest.raises(IncompatibleMergeError) as caught:
        build_timeline(folder)
    prefix = f"{first}: against the baseline 2026-11-01.profile, "
    assert str(caught.value).startswith(prefix)
    assert shape.fullmatch(str(caught.value).removeprefix(prefix))
    assert main(["monitor", str(folder), "-o", str(tmp_path / "out")]) == 2
    # One small profile among full-size ones is refused by its own name, as compare
    # refuses two profiles of different sketch sizes.
    for i in range(2):
        suture.profile(_day(i)).save(folder / f"2026-11-{i + 1:02d}.profile")
    with pytest.raises(IncompatibleMergeError) as one:
        build_timeline(folder)
    third = folder / "2026-11-03.profile"
    assert str(one.value) == (
        f"cannot compare the baseline 2026-11-01.profile (k=1024) with {third} (k=8): their "
        "sketch sizes differ, so their error bounds do not match; re-profile one side with "
        f"the other's size, e.g. `suture profile DATA --k 1024 -o {third}`"
    )


def test_a_period_profiled_with_other_sketch_sizes_is_refused_as_compare_refuses_it(
    tmp_path: Path,
) -> None:
    # Regression: a k=200 period against a k=1024 baseline was accepted by monitor (its KS
    # bound is inside the watch threshold) while compare refuses the same two profiles.
    folder = _folder(tmp_path / "days", 2)
    odd = folder / "2026-11-03.profile"
    suture.profile(_day(2), k=200).save(odd)
    with pytest.raises(IncompatibleMergeError, match="their sketch sizes differ") as in_compare:
        suture.compare(folder / "2026-11-01.profile", odd)
    with pytest.raises(IncompatibleMergeError) as caught:
        build_timeline(folder)
    assert "(k=1024)" in str(caught.value) and f"{odd} (k=200)" in str(caught.value)
    assert str(caught.value).endswith(str(in_compare.value).rpartition(": their")[2])
    assert main(["monitor", str(folder), "-o", str(tmp_path / "out")]) == 2


def test_an_empty_period_is_an_alert_and_an_empty_baseline_is_refused(tmp_path: Path) -> None:
    # Regression: a period whose data went missing (0 rows) passed silently, exit 0.
    folder = _folder(tmp_path / "days", 2)
    suture.profile(_day(2).slice(0, 0)).save(folder / "2026-11-03.profile")
    out = tmp_path / "out"
    assert monitor_command(folder, out) == 1
    alerts = json.loads((out / "timeline.json").read_text())["alerts"]
    assert {(a["period"], a["column"]) for a in alerts} == {
        ("2026-11-03", "amount"),
        ("2026-11-03", "kind"),
    }
    assert all(a["reasons"] == ["the period has no rows: nothing was profiled"] for a in alerts)
    with pytest.raises(EmptyInputError) as caught:
        build_timeline(folder, baseline="2026-11-03")
    assert str(caught.value) == (
        f"{folder / '2026-11-03.profile'}: the baseline period has no rows, so no period can "
        "be judged against it; pick another with --baseline NAME"
    )


def test_the_ks_error_of_each_period_against_the_baseline_is_in_the_json(
    tmp_path: Path, profiles: Path
) -> None:
    out = tmp_path / "out"
    assert monitor_command(profiles, out) == 0
    data = json.loads((out / "timeline.json").read_text())
    third = data["periods"][2]["verdicts"]
    expected = suture.compare(profiles / "2026-11-01.profile", profiles / "2026-11-03.profile")
    assert third["amount"] == {"verdict": "ok", "reasons": [],
                               "ks_error": expected["amount"].ks_error}  # fmt: skip
    assert 0 < third["amount"]["ks_error"] < 0.02
    assert third["kind"]["ks_error"] is None  # KS does not apply to categories
    assert data["alerts"] == [] and data["notes"] == []


def test_five_periods_or_fewer_say_that_anomaly_detection_cannot_flag_yet(
    tmp_path: Path, profiles: Path
) -> None:
    # Regression: with 5 periods nothing could ever be flagged, and nothing said so.
    folder = tmp_path / "days"
    folder.mkdir()
    for path in sorted(profiles.glob("*.profile"))[:5]:
        shutil.copy(path, folder / path.name)
    out = tmp_path / "out"
    printed = io.StringIO()
    assert monitor_command(folder, out, console=Console(file=printed, width=400)) == 0
    note = (
        "anomaly detection needs at least 6 periods; 5 given: no series can be flagged yet "
        "(7 for the drift against the previous period); drift against the baseline is "
        "judged all the same"
    )
    assert f"note: {note}\n" in printed.getvalue()
    data = json.loads((out / "timeline.json").read_text())
    assert data["notes"] == [note] and data["min_periods"] == MIN_PERIODS == 6
    page = (out / "timeline.html").read_text(encoding="utf-8")
    assert f'<section id="notes"><h2>Notes</h2><ul class="note"><li>{note}</li>' in page
    shutil.copy(profiles / "2026-11-06.profile", folder)
    assert build_timeline(folder).notes == []


def test_periods_drifted_against_the_baseline_are_alerts_judged_as_compare_judges(
    tmp_path: Path,
) -> None:
    # Regression: 3 periods with KS 1.0 against the baseline gave exit 0 and no flag,
    # since the drift series were never judged against compare's thresholds.
    folder = _drifted_folder(tmp_path / "days")
    out = tmp_path / "out"
    printed = io.StringIO()
    assert monitor_command(folder, out, console=Console(file=printed, width=400)) == 1
    data = json.loads((out / "timeline.json").read_text())
    assert data["anomalies"] == []  # too few periods for a robust z-score
    assert [(a["period"], a["column"], a["verdict"]) for a in data["alerts"]] == [
        ("2026-11-02", "amount", "alert"),
        ("2026-11-03", "amount", "alert"),
    ]
    for alert in data["alerts"]:
        judged = suture.compare(folder / "2026-11-01.profile",
                                folder / f"{alert['period']}.profile")  # fmt: skip
        assert alert["reasons"] == list(judged["amount"].reasons)
        assert judged["amount"].verdict == "alert" and judged["kind"].verdict == "ok"
        assert alert["ks_error"] == judged["amount"].ks_error
    assert data["periods"][1]["verdicts"]["kind"]["verdict"] == "ok"
    reasons = "; ".join(data["alerts"][-1]["reasons"])
    assert f"  2026-11-03 amount: alert against the baseline: {reasons}\n" in printed.getvalue()
    page = (out / "timeline.html").read_text(encoding="utf-8")
    assert '<section id="alerts"><h2>Alerts against the baseline</h2>' in page
    assert page.count("<tr><td>2026-11-0") == 2
    # A rerun from the state says the same; a quiet newest period exits 0.
    assert monitor_command(folder, out, console=Console(file=io.StringIO())) == 1
    (folder / "2026-11-02.profile").unlink()
    (folder / "2026-11-03.profile").unlink()
    suture.profile(_day(5)).save(folder / "2026-11-02.profile")
    assert monitor_command(folder, out, console=Console(file=io.StringIO())) == 0


def test_a_state_of_the_older_format_is_rebuilt_not_refused(tmp_path: Path, profiles: Path) -> None:
    out = tmp_path / "out"
    write_timeline(build_timeline(profiles, out), out)
    state = json.loads((out / "state.json").read_text())
    state["format"] = "suture.monitor/1"
    for period in state["periods"]:
        del period["verdicts"]
    (out / "state.json").write_text(json.dumps(state))
    rebuilt = build_timeline(profiles, out)
    assert len(rebuilt.computed) == 8
    assert rebuilt.periods[3].verdicts["amount"].verdict == "ok"
