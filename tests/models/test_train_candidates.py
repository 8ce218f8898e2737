"""How suture.train builds its candidates."""

from __future__ import annotations

from typing import Any, cast

from suture.models.base import Task
from suture.train import LOGISTIC_ALPHAS, LOGISTIC_SEARCH_ROWS, _new_model


def test_logistic_searches_its_penalty_only_on_up_to_the_search_rows() -> None:
    task = Task("binary", "y", ("no", "yes"))
    pipeline = cast(Any, None)  # logistic regression needs no pipeline to be built
    small = _new_model("logistic", task, pipeline, 0, rows=LOGISTIC_SEARCH_ROWS)
    large = _new_model("logistic", task, pipeline, 0, rows=LOGISTIC_SEARCH_ROWS + 1)
    assert small.get_params()["alphas"] == list(LOGISTIC_ALPHAS)
    assert large.get_params()["alphas"] is None
    assert large.get_params()["alpha"] == 1.0
