"""Segments (``by``): drift hidden in one level is found, and segments do not cry wolf."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import suture
from suture.errors import ConfigError
from suture.monitor import compare
from suture.monitor.cli import compare_command

REGIONS = np.array(["north", "south", "east", "west"])


def _table(seed: int, rows: int, *, shift_north: float = 0.0) -> pa.Table:
    """Four regions (north a tenth of the rows); ``x`` normal, ``c`` three levels."""
    rng = np.random.default_rng(seed)
    region = REGIONS[rng.choice(4, rows, p=[0.1, 0.3, 0.3, 0.3])]
    x = rng.normal(0.0, 1.0, rows) + np.where(region == "north", shift_north, 0.0)
    c = np.array(["a", "b", "c"])[rng.choice(3, rows, p=[0.5, 0.3, 0.2])]
    return pa.table({"region": region, "x": x, "c": c, "y": rng.exponential(2.0, rows)})


def test_drift_in_one_segment_alerts_there_though_the_whole_table_stays_ok() -> None:
    base = _table(0, 40_000)
    now = _table(1, 40_000, shift_north=1.0)
    result = compare(base, now, by="region")
    # On the whole table the north's shift is diluted below the watch thresholds ...
    assert result["x"].verdict == "ok"
    # ... but the north itself alerts, and nothing else does.
    assert result.segment("north")["x"].verdict == "alert"
    assert result.segment_alerts() == [("north", "x")]
    assert result.verdict == "alert"
    roll = result.rollup()
    assert roll["x"] == {"*": "ok", "east": "ok", "north": "alert", "south": "ok", "west": "ok"}
    assert set(roll) == {"region", "x", "c", "y"}
    assert roll["region"] == {"*": "ok"}  # the segment column is not compared inside itself
    assert [s.level for s in result.segments] == ["east", "north", "south", "west"]
    # Each segment's profile is of its own rows; their rows add up to the whole side.
    assert sum(s.comparison.rows[1] for s in result.segments) == 40_000
    north_rows = int(pc.sum(pc.equal(now["region"], "north")).as_py())
    assert result.segment("north").rows[1] == north_rows


def test_the_whole_side_of_a_segmented_pass_is_the_unsegmented_profile() -> None:
    base, now = _table(2, 5_000), _table(3, 5_000)
    plain = compare(base, now)
    segmented = compare(base, now, by="region")
    for c_plain, c_seg in zip(plain.columns, segmented.columns, strict=True):
        assert c_plain.name == c_seg.name
        assert c_plain.null_rate == c_seg.null_rate and c_plain.values == c_seg.values
        # The merged segment sketches are within their bounds of the one-pass sketch.
        if c_plain.kind == "numeric":
            assert abs(c_plain.ks.value - c_seg.ks.value) <= c_seg.ks_error


@pytest.mark.parametrize("rows", [400, 4_000, 40_000])
def test_segments_of_one_distribution_give_no_watch_across_seeds(rows: int) -> None:
    verdicts: collections.Counter[str] = collections.Counter()
    for seed in range(3):
        result = compare(_table(2 * seed, rows), _table(2 * seed + 1, rows), by="region")
        verdicts.update(c.verdict for s in result.segments for c in s.comparison.columns)
        verdicts.update(c.verdict for c in result.columns)
    # 3 seeds x (4 segments x 3 columns + 4 whole-table columns)
    assert verdicts == {"ok": 48}


def test_the_guard_is_shared_by_every_test_of_every_segment() -> None:
    # Bonferroni over columns and segments: 4 columns on the whole table and in each of
    # 4 segments, two tests each.  A 300-row segment shift that one test alone at
    # alpha/8 would call significant must reach alpha/40 to count.
    result = compare(_table(4, 400), _table(5, 400), by="region")
    assert len(result.segments) == 4
    assert result.verdict == "ok"


def test_a_segment_on_one_side_only_is_listed_and_makes_it_watch() -> None:
    base = _table(6, 4_000)
    now = _table(7, 4_000).filter(pc.not_equal(_table(7, 4_000)["region"], "west"))
    result = compare(base, now, by="region")
    assert result.segments_only == (("west",), ())
    assert [s.level for s in result.segments] == ["east", "north", "south"]
    assert result.verdict in ("watch", "alert")
    data = result.to_dict()["segments"]
    assert data["by"] == "region" and data["only_in_baseline"] == ["west"]
    assert [s["level"] for s in data["levels"]] == ["east", "north", "south"]


def test_null_keys_form_a_segment_of_their_own() -> None:
    t = pa.table({"g": ["a", None, "a", None] * 500, "x": np.arange(2000, dtype=float) % 7})
    result = compare(t, t, by="g")
    assert [s.level for s in result.segments] == ["(null)", "a"]
    assert result.verdict == "ok"


def test_a_numeric_by_column_is_refused_in_one_sentence() -> None:
    t = _table(0, 100)
    with pytest.raises(ConfigError) as caught:
        compare(t, t, by="x")
    assert str(caught.value) == (
        "--by 'x': the column is double in the baseline, not categorical; segment by a "
        "string or boolean column (or cast this one to strings first)"
    )


def test_a_by_column_missing_from_the_data_is_refused() -> None:
    t = _table(0, 100)
    with pytest.raises(ConfigError) as caught:
        compare(t, t, by="area")
    assert str(caught.value) == (
        "--by 'area': the baseline has no such column; columns are: region, x, c, y"
    )


def test_a_saved_profile_has_no_segments_so_by_asks_for_data(tmp_path: Path) -> None:
    t = _table(0, 100)
    saved = suture.profile(t).save(tmp_path / "base.profile")
    with pytest.raises(ConfigError) as caught:
        compare(saved, t, by="region")
    assert str(caught.value) == (
        "--by 'region' needs data on both sides: the baseline is a saved profile, which "
        "keeps no segments; pass the data it was profiled from instead"
    )
    with pytest.raises(ConfigError, match="the current side is a saved profile"):
        compare(t, suture.profile(t), by="region")


def test_too_many_segments_are_refused() -> None:
    t = pa.table({"id": [f"k{i}" for i in range(500)], "x": np.ones(500)})
    with pytest.raises(ConfigError) as caught:
        compare(t, t, by="id")
    assert str(caught.value) == (
        "--by 'id': more than 200 levels in the baseline; segment by a column with fewer levels"
    )


def test_the_command_exits_1_on_an_alert_inside_a_segment(tmp_path: Path) -> None:
    base, now = tmp_path / "base.parquet", tmp_path / "now.parquet"
    import pyarrow.parquet as pq

    pq.write_table(_table(0, 40_000), base)
    pq.write_table(_table(1, 40_000, shift_north=1.0), now)
    out = tmp_path / "result.json"
    assert compare_command(base, now, by="region", json_path=out) == 1
    assert compare_command(base, base, by="region") == 0
    assert '"by": "region"' in out.read_text()


def test_the_suture_command_takes_by_and_html_and_exits_2_on_a_numeric_by(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    from suture.cli import main

    base, now = tmp_path / "base.parquet", tmp_path / "now.parquet"
    pq.write_table(_table(0, 20_000), base)
    pq.write_table(_table(1, 20_000, shift_north=1.0), now)
    page = tmp_path / "drift.html"
    assert main(["compare", str(base), str(now), "--by", "region", "--html", str(page)]) == 1
    out = capsys.readouterr().out
    assert "segments by region: 4 compared, 3 all ok" in out
    assert "region=north x: ks" in out
    html = page.read_text(encoding="utf-8")
    assert '<section id="segments">' in html
    # The column that alerts only in the north has its overlay, linked from the roll-up.
    anchor = re.search(r'<a href="#(seg-\d+-x)">', html)
    assert anchor is not None
    start = html.index(f'<section id="{anchor[1]}">')
    section = html[start : html.index("</section>", start)]
    assert '<h2>region = north: <span class="name">x</span>' in section
    assert "<svg" in section and "alert" in section
    assert main(["compare", str(base), str(now), "--by", "x"]) == 2
    err = capsys.readouterr().err
    assert "--by 'x': the column is double in the baseline, not categorical" in err
    assert len(err.strip().splitlines()) == 1
