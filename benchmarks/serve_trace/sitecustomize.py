"""Stall tracing for ``serve_bench.py --trace DIR`` (loaded by every process it starts,
through ``PYTHONPATH``; inert unless ``SERVE_BENCH_TRACE`` names a folder).

In a suture worker it records, from the moment the service is ready: every full (gen-2)
garbage collection with its wall and CPU time and thread, every fold of the live drift
window (wall and CPU time), every event-loop blockage over 4 ms (a probe task that sleeps
1 ms), every archive transaction's duration, and every ``POST /v1/predict``'s time as the
app measures it.  In the load client it records the full collections.  Each process
writes ``DIR/<pid>.json`` when it ends; :func:`serve_bench.trace_summary` reads them.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _install(folder: str) -> None:
    import atexit
    import gc
    import json
    import threading
    import time

    data: dict[str, Any] = {"role": "client" if "--child" in sys.argv else "other",
                            "gen2": [], "folds": [], "lags": [], "commits": [],
                            "requests": [], "ready": None}  # fmt: skip
    started: dict[str, float] = {}

    def collected(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started["wall"], started["cpu"] = time.perf_counter(), time.thread_time()
            return
        wall = time.perf_counter() - started.get("wall", time.perf_counter())
        cpu = time.thread_time() - started.get("cpu", time.thread_time())
        data["gen2"].append((time.time(), wall, cpu, threading.current_thread().name))

    gc.callbacks.append(collected)

    def dump() -> None:
        if data["role"] != "other":
            with open(os.path.join(folder, f"{os.getpid()}.json"), "w") as out:
                json.dump(data, out)

    atexit.register(dump)
    if data["role"] == "client":
        return
    try:
        import suture.serve.app as app
    except ImportError:
        return
    start, stop = app.Service.start, app.Service.stop

    async def traced_start(self: Any) -> None:
        import asyncio

        await start(self)
        data["role"], data["ready"] = "worker", time.time()

        async def probe() -> None:
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                lag = time.perf_counter() - before - 0.001
                if lag > 0.004:
                    data["lags"].append((time.time(), lag))

        self._trace_probe = asyncio.ensure_future(probe())
        window = self.window
        if window is not None:
            flush = window.flush

            def traced_flush(*args: Any, **kwargs: Any) -> int:
                wall, cpu, at = time.perf_counter(), time.thread_time(), time.time()
                try:
                    folded: int = flush(*args, **kwargs)
                    return folded
                finally:
                    data["folds"].append((at, time.perf_counter() - wall, time.thread_time() - cpu))

            window.flush = traced_flush
        writer = getattr(self.archive, "_writer", None)
        if writer is not None:
            transaction = writer._transaction

            def traced_transaction(group: Any, work: Any, rows: Any = ()) -> None:
                wall, at = time.perf_counter(), time.time()
                try:
                    transaction(group, work, rows)
                finally:
                    data["commits"].append((at, time.perf_counter() - wall, len(rows)))

            writer._transaction = traced_transaction
        observe = self.observe

        def traced_observe(route: str, method: str, status: int, seconds: float) -> None:
            if route == "/v1/predict":
                data["requests"].append((time.time(), seconds))
            observe(route, method, status, seconds)

        self.observe = traced_observe

    async def traced_stop(self: Any) -> None:
        await stop(self)
        dump()

    app.Service.start = traced_start  # type: ignore[method-assign]
    app.Service.stop = traced_stop  # type: ignore[method-assign]


if os.environ.get("SERVE_BENCH_TRACE"):
    _install(os.environ["SERVE_BENCH_TRACE"])
