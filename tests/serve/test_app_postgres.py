"""A service whose PostgreSQL archive goes away answers 503, acknowledges nothing, and lives.

A real PostgreSQL server (the fixtures of test_postgres.py: ``SUTURE_TEST_POSTGRES_URL``,
or a throwaway cluster) holds the archive; the test drops the archive's database under a
running ``suture serve``.
"""

from __future__ import annotations

import httpx
import psycopg

from tests.serve.conftest import MODEL_BUNDLE, ServeFn
from tests.serve.test_postgres import archive_url, postgres_server

__all__ = ["archive_url", "postgres_server"]  # PostgreSQL fixtures, from test_postgres.py


def test_a_lost_archive_is_a_503_with_retry_after_and_the_service_stays_up(
    serve: ServeFn, archive_url: str, postgres_server: str
) -> None:
    server = serve(MODEL_BUNDLE, archive=archive_url)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        made = client.post("/v1/predict", json={"balance": 1500})
        assert made.status_code == 200
        database = archive_url.rpartition("/")[2]
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {database} WITH (FORCE)")
        for _ in range(2):  # the broken connection, then a reconnection that fails
            lost = client.post("/v1/predict", json={"balance": 1500})
            assert lost.status_code == 503
            assert lost.headers["retry-after"] == "1"
            message = lost.json()["error"]["message"]
            assert message.startswith(f"the archive {archive_url.split('://')[0]}://")
            assert message.endswith(
                "could not record the predictions (ArchiveError); nothing was scored for "
                "good: retry later"
            )
            assert "id" not in lost.json()["error"]  # not a bug: no traceback id
        assert client.get("/healthz").status_code == 200
    assert server.process.poll() is None
    assert "archive write failed (ArchiveError: " in server.output()
