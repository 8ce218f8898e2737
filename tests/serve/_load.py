"""Helpers of the reliability tests: a bounded load of concurrent clients against a real
``suture serve``, reading its archive and drift window, and a small real bundle.

Each client is a thread with one keep-alive :class:`http.client.HTTPConnection` posting
valid records of the golden bundle's contract to ``/v1/predict``.  A prediction id counts
as *acknowledged* only when its request was answered 200 with that id in the body; a
connection the server drops (it was killed, or is shutting down) ends that client.  Loops
are bounded by a request count and a time limit, so a load always stops by itself.

:func:`archived_ids` reads a SQLite archive without suture; :func:`wait_window` polls
``/v1/drift`` until the window holds a number of records; :func:`running` is a server for
a module-scoped fixture.  :func:`sensitive_bundle` trains a small real bundle on three
inputs (one of them marked ``sensitive = true``) for the tests that need more than the
golden bundle's one input.
"""

from __future__ import annotations

import http.client
import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from suture._manifest import entry, manifest_digest
from tests.serve.conftest import Server, start_server

#: What a dropped or refused connection raises in http.client.
DROPPED = (ConnectionError, http.client.HTTPException, TimeoutError, OSError)


def golden_record(rng: random.Random) -> dict[str, Any]:
    """One valid record of ``tests/golden/model_v1``'s contract (student, balance, income)."""
    return {
        "student": rng.random() < 0.3,
        "balance": round(rng.uniform(0.0, 2500.0), 2),
        "income": round(rng.uniform(5000.0, 70000.0), 2),
    }


def prediction_ids(answer: Any) -> list[str]:
    """The prediction ids in a 200 answer: one object, or ``{"predictions": [...]}``."""
    if isinstance(answer, dict) and isinstance(answer.get("predictions"), list):
        items: Sequence[Any] = answer["predictions"]
    else:
        items = [answer]
    return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]


def connection(url: str, timeout: float = 30) -> http.client.HTTPConnection:
    """A connection to the server at ``url`` (``http://127.0.0.1:PORT``)."""
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def post_json(
    url: str, path: str, body: Any, headers: Mapping[str, str] | None = None, timeout: float = 30
) -> tuple[int, Any]:
    """POST ``body`` as JSON on a fresh connection; return the status and the parsed answer."""
    conn = connection(url, timeout)
    try:
        conn.request(
            "POST",
            path,
            json.dumps(body),
            {"Content-Type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, json.loads(data) if data else None


def get_json(url: str, path: str, timeout: float = 30) -> tuple[int, Any]:
    """GET ``path``; return the status and the parsed answer."""
    conn = connection(url, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, json.loads(data) if data else None


def sqlite_path(archive: str) -> Path:
    """The file of a ``sqlite:///PATH`` archive URL."""
    assert archive.startswith("sqlite:///"), archive
    return Path(archive.removeprefix("sqlite:///"))


def archived_ids(archive: str) -> list[str]:
    """Every prediction id in a SQLite archive, in order, read without suture."""
    with sqlite3.connect(sqlite_path(archive)) as db:
        return [row[0] for row in db.execute("SELECT id FROM predictions ORDER BY seq")]


def window_records(url: str) -> int:
    """How many records the live drift window holds (``GET /v1/drift``)."""
    status, body = get_json(url, "/v1/drift")
    assert status == 200, body
    records: int = body["window"]["records"]
    return records


def wait_window(url: str, at_least: int, timeout: float = 15.0) -> int:
    """The window's record count once it reaches ``at_least`` (or the last one seen after
    ``timeout``: the window folds records in the background every 2 seconds)."""
    deadline = time.monotonic() + timeout
    seen = window_records(url)
    while seen < at_least and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = window_records(url)
    return seen


def running(tmp: Path, bundle: Path, *args: str) -> Iterator[Server]:
    """A server for a module-scoped fixture: started, yielded, stopped."""
    server = start_server(bundle, tmp, *args)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Load:
    """``clients`` threads posting batches of ``batch`` records until ``requests`` were
    sent in all, ``seconds`` passed, :meth:`stop` was called or the server went away.

    Attributes
    ----------
    acknowledged : list of str
        Every prediction id answered 200.
    statuses : dict
        How many answers of each status.
    dropped : int
        Requests whose connection was refused or dropped (no answer: not acknowledged).
    """

    url: str
    clients: int = 8
    batch: int = 1
    requests: int = 2000
    seconds: float = 30.0
    seed: int = 12
    acknowledged: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _sent: int = 0

    def start(self) -> Load:
        """Start the clients (each with its own seeded stream of records)."""
        deadline = time.monotonic() + self.seconds
        for n in range(self.clients):
            thread = threading.Thread(
                target=self._client, args=(random.Random(self.seed + n), deadline), daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _take(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self._sent >= self.requests:
                return False
            self._sent += 1
            return True

    def _client(self, rng: random.Random, deadline: float) -> None:
        conn = connection(self.url)
        headers = {"Content-Type": "application/json"}
        try:
            while time.monotonic() < deadline and self._take():
                records = [golden_record(rng) for _ in range(self.batch)]
                body = json.dumps(records if self.batch > 1 else records[0])
                try:
                    conn.request("POST", "/v1/predict", body, headers)
                    response = conn.getresponse()
                    data = response.read()
                except DROPPED:
                    with self._lock:
                        self.dropped += 1
                    return
                with self._lock:
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                    if response.status == 200:
                        self.acknowledged.extend(prediction_ids(json.loads(data)))
        finally:
            conn.close()

    def wait_for(self, acknowledged: int, timeout: float) -> int:
        """Block until at least ``acknowledged`` ids were acknowledged, the clients are done
        or ``timeout`` passed; return the count so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(t.is_alive() for t in self._threads):
            with self._lock:
                if len(self.acknowledged) >= acknowledged:
                    break
            time.sleep(0.02)
        with self._lock:
            return len(self.acknowledged)

    def stop(self, timeout: float = 40.0) -> None:
        """Stop sending and wait for every client to finish its last request."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise AssertionError(f"load clients still running after {timeout:.0f} s: {alive}")


def sensitive_bundle(into: Path) -> Path:
    """A real bundle trained on age, salary and region; the contract marks salary
    ``sensitive = true`` (a contract edit, with the manifest's digests re-written)."""
    import numpy as np
    import pyarrow as pa

    import suture

    rng = np.random.default_rng(0)
    n = 1500
    age = rng.uniform(18, 80, n)
    salary = rng.uniform(1000, 9000, n)
    region = rng.choice(["north", "south", "east"], n)
    logit = 0.08 * (age - 50) + 0.0008 * (salary - 5000) + np.where(region == "north", 1.0, 0.0)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    table = pa.table({"age": age, "salary": salary, "region": region, "churned": churned})
    bundle = into / "salary_model"
    suture.train(table, "churned", candidates=["logistic"], seed=0, output=bundle)
    contract = bundle / "contract.toml"
    text = contract.read_text()
    assert "[columns.salary]\n" in text
    contract.write_text(text.replace("[columns.salary]\n", "[columns.salary]\nsensitive = true\n"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["parts"]["contract.toml"] = entry(contract.read_bytes())
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle
