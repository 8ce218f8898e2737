"""The drift window's fold, handed to the worker's event loop a step at a time.

A fold on the window's own thread held the GIL for milliseconds at a time while
single-record requests waited (serve_bench open-loop p99 8.6-17.8 ms with folds,
5.1-6.2 ms without): :class:`~suture.serve.window.LoopSteps` runs it on the loop between
requests instead, and must never deadlock a loop that is blocked or gone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from suture.models.bundle import ModelBundle
from suture.schema.contract import Schema
from suture.serve.archive import SqlArchive
from suture.serve.config import WindowSpec
from suture.serve.window import LiveWindow, LoopSteps
from suture.testing import assert_profiles_agree
from tests.serve.test_window import (
    Clock,
    archive,
    archive_records,
    archive_url,
    bundle,
    default_rows,
    halt,
    inputs,
    one_pass,
)

__all__ = ["archive", "archive_url", "bundle", "default_rows", "inputs"]  # fixtures


class Loop:
    """An event loop running in its own thread, as a worker's is."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def ident(self) -> int:
        ident = self.thread.ident
        assert ident is not None
        return ident

    def sync(self) -> None:
        """Return once the loop has run every call queued before this one."""
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result(timeout=10)

    def block(self) -> threading.Event:
        """Block the loop (as a handler waiting on a lock would) until the event is set."""
        release = threading.Event()
        started = threading.Event()

        def blocked() -> None:
            started.set()
            release.wait(timeout=30)

        self.loop.call_soon_threadsafe(blocked)
        assert started.wait(timeout=10)
        return release

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    if not running.loop.is_closed():
        running.stop()


def where() -> int:
    return threading.get_ident()


def test_a_step_runs_on_the_event_loop_and_returns_its_result(loop: Loop) -> None:
    steps = LoopSteps(loop.loop, threading.Event())
    assert steps(where) == loop.ident()
    assert steps(lambda: 6 * 7) == 42
    assert steps.late_ == 0


def test_an_error_in_a_step_comes_back_to_the_caller_as_itself(loop: Loop) -> None:
    steps = LoopSteps(loop.loop, threading.Event())

    def refuse() -> None:
        raise ValueError("refused on the loop")

    with pytest.raises(ValueError, match="refused on the loop"):
        steps(refuse)
    assert steps(where) == loop.ident()  # the loop goes on


def test_a_blocked_loop_gets_no_step_and_none_runs_twice(loop: Loop) -> None:
    steps = LoopSteps(loop.loop, threading.Event())
    ran: list[int] = []

    def step() -> int:
        ran.append(where())
        return len(ran)

    release = loop.block()
    try:
        results = [steps(step) for _ in range(5)]
    finally:
        release.set()
    loop.sync()  # the step taken back is no longer queued: it must not run again
    assert results == [1, 2, 3, 4, 5]
    assert ran == [where()] * 5
    # One wait out of the patience, not five: after it, steps run here until the loop
    # has caught up.
    assert steps.late_ == 1
    assert steps(where) == loop.ident()


def test_steps_run_on_the_caller_once_the_window_is_stopping(loop: Loop) -> None:
    stopping = threading.Event()
    steps = LoopSteps(loop.loop, stopping)
    release = loop.block()  # as when the loop itself joins the window's thread
    try:
        stopping.set()
        assert steps(where) == where()
    finally:
        release.set()
    assert steps.late_ == 0


def test_a_step_asked_for_on_the_loop_runs_there_and_then(loop: Loop) -> None:
    steps = LoopSteps(loop.loop, threading.Event())

    async def ask() -> tuple[int, int]:
        return steps(where), where()

    inner, outer = asyncio.run_coroutine_threadsafe(ask(), loop.loop).result(timeout=10)
    assert inner == outer == loop.ident()


def test_a_closed_loop_leaves_steps_to_the_caller(loop: Loop) -> None:
    steps = LoopSteps(loop.loop, threading.Event())
    loop.stop()
    assert steps(where) == where()


# ------------------------------------------------------------------------ the window


class Watched:
    """A stepper around LoopSteps that notes the thread each step ran on."""

    def __init__(self, inner: Callable[[Callable[[], Any]], Any]) -> None:
        self.inner = inner
        self.threads: list[int] = []

    def __call__(self, step: Callable[[], Any]) -> Any:
        def noted() -> Any:
            self.threads.append(where())
            return step()

        return self.inner(noted)


def test_a_fold_runs_on_the_event_loop_between_requests(
    loop: Loop,
    archive: SqlArchive,
    bundle: ModelBundle,
    inputs: Schema,
    default_rows: list[dict[str, Any]],
) -> None:
    window = LiveWindow(inputs, bundle.profile, archive, worker="w1",
                        spec=WindowSpec(seconds=3600), clock=Clock())  # fmt: skip
    window.start(loop.loop)
    assert isinstance(window._steps, LoopSteps) and window._steps.loop is loop.loop
    # This test folds, from a thread that is not the loop's; halting sets the window's
    # stop event, after which its steps run inline: watch fresh ones.
    halt(window)
    watched = Watched(LoopSteps(loop.loop, threading.Event()))
    window._steps = watched
    coerced = archive_records(archive, window, inputs, default_rows[2000:2600], worker="w1",
                              ts=Clock().now)  # fmt: skip
    assert window.flush() == 600
    window.persist()
    # Every column is converted, then sketched, then the state encoded: on the loop.
    assert len(watched.threads) >= 2 * len(window.columns) + 1
    assert set(watched.threads) == {loop.ident()}
    profile, *_ = window.window()
    assert profile.row_count == 600
    assert_profiles_agree(profile, one_pass(window, coerced))
    window.finish()
