"""``suture recommend``: fit, query, update and evaluate MinHash recommenders."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from suture.cli import RECOMMEND_HELP, check_at_least, one_line
from suture.errors import EXIT_USAGE, EmptyInputError, SutureError
from suture.recommend._answers import Recommendation
from suture.recommend._evaluate import Metrics, evaluate
from suture.recommend._model import Recommender

__all__ = ["DEFAULT_SEED", "app"]

app = typer.Typer(
    name="recommend",
    help=RECOMMEND_HELP,
    no_args_is_help=True,
    add_completion=False,
)
T = TypeVar("T")

#: The one default ``--seed`` of ``fit`` and ``evaluate`` (the Recommender's own default).
DEFAULT_SEED = 1

UserOpt = Annotated[str, typer.Option("--user", help="The user identifier column.")]
ItemOpt = Annotated[str, typer.Option("--item", help="The item identifier column.")]
WeightOpt = Annotated[
    str | None, typer.Option("--weight", help="A numeric column such as a rating.")
]
MinWeightOpt = Annotated[
    float | None,
    typer.Option("--min-weight", help="Ignore rows whose weight is below this value."),
]
NumPermOpt = Annotated[int, typer.Option("--num-perm", help="Hash functions per signature.")]
ThresholdOpt = Annotated[
    float, typer.Option("--threshold", help="Target Jaccard similarity of the LSH index.")
]
NeighboursOpt = Annotated[int, typer.Option("--neighbours", help="Neighbours kept per item.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the hash family.")]
SplitSeedOpt = Annotated[
    int,
    typer.Option("--seed", help="Seed of the random hold-out (the hash family keeps its default)."),
]
KOpt = Annotated[int, typer.Option("-k", help="How many answers (1 or more).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _run(action: Callable[[], T]) -> T:
    """Run a command body; a SutureError becomes one line on stderr and exit code 2."""
    try:
        return action()
    except SutureError as exc:
        typer.echo(f"error: {one_line(exc)}", err=True)
        raise typer.Exit(code=EXIT_USAGE) from None


def _console() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


@app.command()
def fit(
    source: Annotated[Path, typer.Argument(help="Interactions: Parquet, CSV or Arrow.")],
    user: UserOpt,
    item: ItemOpt,
    output: Annotated[
        Path, typer.Option("--output", "-o", "--out", help="Bundle folder to write.")
    ],
    weight: WeightOpt = None,
    min_weight: MinWeightOpt = None,
    num_perm: NumPermOpt = 128,
    threshold: ThresholdOpt = 0.05,
    neighbours: NeighboursOpt = 200,
    seed: SeedOpt = DEFAULT_SEED,
) -> None:
    """Build item signatures, the LSH index, neighbours and popularity into a bundle.

    A fit that keeps no items (every row skipped) is refused and writes nothing.
    """

    def body() -> None:
        from suture.bundle import check_output

        check_output(output, folder=True)
        started = time.perf_counter()
        model = Recommender(
            user=user,
            item=item,
            weight=weight,
            min_weight=min_weight,
            num_perm=num_perm,
            threshold=threshold,
            neighbours=neighbours,
            seed=seed,
        ).fit(source)
        _refuse_empty(model, source)
        model.save(output)
        _summary(model, output, time.perf_counter() - started)

    _run(body)


def _refuse_empty(model: Recommender, source: Path) -> None:
    """A fit that kept no items is refused with the counts, never saved empty."""
    state = model.state_
    if state.num_items > 0:
        return
    if state.dropped == 0:
        raise EmptyInputError(f"{source} has no rows; there is nothing to fit; nothing was written")
    why = f"a null {model.user} or {model.item}"
    if model.weight is not None:
        why += f", a null or NaN {model.weight}"
    if model.min_weight is not None:
        why += f", or {model.weight} below --min-weight {model.min_weight:g}"
    raise EmptyInputError(
        f"{source}: the fit kept no items: all {state.dropped:,} rows were skipped ({why}); "
        "nothing was written; check the columns and --min-weight"
    )


def _summary(model: Recommender, output: Path, seconds: float) -> None:
    state = model.state_
    typer.echo(
        f"wrote {output}: {state.num_items} items, {len(state.user_keys)} users, "
        f"{len(state.pair_users)} interactions ({state.dropped} rows skipped), "
        f"LSH {model.lsh_.bands} bands x {model.lsh_.rows} rows, {seconds:.2f} s"
    )


@app.command()
def query(
    bundle: Annotated[Path, typer.Argument(help="A bundle written by `fit`.")],
    user: Annotated[str | None, typer.Option("--user", help="Recommend for this user.")] = None,
    item: Annotated[
        str | None, typer.Option("--item", help="List the items most similar to this one.")
    ] = None,
    k: KOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Recommendations for a user, or items similar to an item, with their reasons."""
    if (user is None) == (item is None):
        typer.echo("error: pass exactly one of --user or --item", err=True)
        raise typer.Exit(code=EXIT_USAGE)

    def body() -> list[Recommendation]:
        check_at_least("-k", k, 1, "how many answers")
        model = Recommender.load(bundle)
        return model.recommend(user, k) if user is not None else model.similar(item, k)

    answers = _run(body)
    if as_json:
        typer.echo(json.dumps([a.to_dict() for a in answers], indent=2, default=str))
        return
    table = Table("rank", "item", "score", "why")
    for rank, answer in enumerate(answers, 1):
        table.add_row(str(rank), str(answer.item), f"{answer.score:.3f}", answer.explain())
    _console().print(table)


@app.command()
def update(
    bundle: Annotated[Path, typer.Argument(help="A bundle written by `fit`.")],
    source: Annotated[Path, typer.Argument(help="New interactions, same columns.")],
) -> None:
    """Merge new interactions into a bundle; equals a fit on old and new together.

    The bundle is replaced whole at the end, or on any failure left as it was.
    """

    def body() -> None:
        from suture.bundle import check_output

        check_output(bundle, folder=True)
        started = time.perf_counter()
        model = Recommender.load(bundle).update(source)
        _refuse_empty(model, source)
        model.save(bundle)
        _summary(model, bundle, time.perf_counter() - started)

    _run(body)


@app.command(name="evaluate")
def evaluate_command(
    source: Annotated[Path, typer.Argument(help="Interactions: Parquet, CSV or Arrow.")],
    user: UserOpt,
    item: ItemOpt,
    weight: WeightOpt = None,
    min_weight: MinWeightOpt = None,
    split: Annotated[
        str, typer.Option("--split", help="Hold-out per user: random or time.")
    ] = "random",
    time_column: Annotated[
        str | None, typer.Option("--time", help="Ordering column for --split time.")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="List length for the metrics (1 or more).")] = 10,
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", help="Share held out per user.")
    ] = 0.2,
    seed: SplitSeedOpt = DEFAULT_SEED,
    num_perm: NumPermOpt = 128,
    threshold: ThresholdOpt = 0.05,
    neighbours: NeighboursOpt = 200,
    exact: Annotated[
        bool, typer.Option("--exact/--no-exact", help="Include exact Jaccard item-kNN.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Precision, recall, NDCG at k, coverage and popularity bias, with baselines."""

    def body() -> list[Metrics]:
        check_at_least("-k", k, 1, "the list length")
        baselines = ("popularity", "exact-jaccard") if exact else ("popularity",)
        return evaluate(
            source,
            user=user,
            item=item,
            weight=weight,
            min_weight=min_weight,
            method=split,
            time=time_column,
            k=k,
            test_fraction=test_fraction,
            seed=seed,
            baselines=baselines,
            num_perm=num_perm,
            threshold=threshold,
            neighbours=neighbours,
        )

    results = _run(body)
    if as_json:
        typer.echo(json.dumps([m.to_dict() for m in results], indent=2))
        return
    _console().print(_metrics_table(results, k, split))


def _metrics_table(results: list[Metrics], k: int, split: str) -> Table:
    table = Table(
        "method",
        f"precision@{k}",
        f"recall@{k}",
        f"NDCG@{k}",
        "coverage",
        "popularity bias",
        "users",
        title=f"{split} hold-out",
    )
    for m in results:
        cells: list[Any] = [m.precision, m.recall, m.ndcg, m.coverage, m.popularity_bias]
        table.add_row(m.name, *(f"{c:.4f}" for c in cells), str(m.users))
    return table
