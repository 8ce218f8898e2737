"""A read error at any batch in the middle of ``profile`` and ``validate`` (issue 9).

The real command (``suture.cli.main``) reads a Parquet file whose row group ``i`` is
damaged, for a random ``i``: it must exit 2 with one line naming the file, leave every
output of an earlier complete run byte for byte as it was, and leave no temporary behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suture.cli import main
from suture.errors import EXIT_USAGE

GROUPS = 12
GROUP_ROWS = 2_000
_SETTINGS = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _table() -> pa.Table:
    rng = np.random.default_rng(3)
    n = GROUPS * GROUP_ROWS
    return pa.table(
        {
            "amount": pa.array(rng.lognormal(3.0, 1.0, n)),
            "segment": pa.array([f"s{i}" for i in rng.integers(0, 40, n)]),
        }
    )


def _damaged_copy(good: Path, group: int, target: Path) -> Path:
    """``good`` with the data pages of column 0 in row group ``group`` overwritten."""
    raw = bytearray(good.read_bytes())
    column = pq.ParquetFile(good).metadata.row_group(group).column(0)
    start, size = column.data_page_offset, column.total_compressed_size
    raw[start + 20 : start + size - 20] = b"\xff" * (size - 40)
    target.write_bytes(bytes(raw))
    return target


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "good.parquet"
    pq.write_table(_table(), path, row_group_size=GROUP_ROWS, use_dictionary=False)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_error_line(captured: str) -> list[str]:
    lines = [line for line in captured.splitlines() if line.strip()]
    assert len(lines) == 1, captured
    assert "Traceback" not in captured
    return lines


@_SETTINGS
@given(group=st.integers(1, GROUPS - 2), batch_size=st.sampled_from([500, 2_000, 7_000]))
def test_profile_meeting_a_damaged_row_group_changes_no_output(
    good: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    group: int,
    batch_size: int,
) -> None:
    work = tmp_path_factory.mktemp("profile")
    out, html = work / "t.profile", work / "t.html"
    assert main(["profile", str(good), "-o", str(out), "--html", str(html), "-q"]) == 0
    damaged = _damaged_copy(good, group, work / "damaged.parquet")
    before = _snapshot(work)
    capsys.readouterr()
    argv = ["profile", str(damaged), "-o", str(out), "--html", str(html), "-q"]
    code = main([*argv, "--batch-size", str(batch_size), "--workers", "1"])
    assert code == EXIT_USAGE
    (line,) = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {damaged}: the Parquet data is damaged"), line
    assert _snapshot(work) == before
    assert sorted(p.name for p in work.iterdir()) == sorted(before)  # no temporaries


@_SETTINGS
@given(group=st.integers(1, GROUPS - 2))
def test_validate_meeting_a_damaged_row_group_changes_no_output(
    good: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    group: int,
) -> None:
    work = tmp_path_factory.mktemp("validate")
    contract = work / "schema.toml"
    assert main(["infer", str(good), "-o", str(contract)]) == 0
    valid, bad = work / "valid.parquet", work / "bad.parquet"
    args = ["-s", str(contract), "-o", str(valid), "--quarantine", str(bad)]
    assert main(["validate", str(good), *args]) == 0
    damaged = _damaged_copy(good, group, work / "damaged.parquet")
    before = _snapshot(work)
    capsys.readouterr()
    assert main(["validate", str(damaged), *args]) == EXIT_USAGE
    (line,) = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {damaged}: the Parquet data is damaged"), line
    assert _snapshot(work) == before
    assert sorted(p.name for p in work.iterdir()) == sorted(before)
