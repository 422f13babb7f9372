"""The edge's request time limits (app/api/middleware.py Deadlines): one timer for all requests.

The 503 a slow request gets over HTTP is tests/api/test_hardening.py's; these check what that
test cannot see: which requests are ended and when, and that the loop's timer heap does not take
a timer per request (the reason Deadlines exists).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from app.api.middleware import Deadlines


async def _limited(deadlines: Deadlines, seconds: float) -> str:
    """Sleeps `seconds` under the limit: "done", or "timed out" when the limit ended it."""
    try:
        async with (timeout := asyncio.Timeout(None)):
            watch = deadlines.watch(timeout)
            try:
                await asyncio.sleep(seconds)
            finally:
                watch.forget(timeout)
    except TimeoutError:
        return "timed out"
    return "done"


async def test_a_request_past_its_limit_ends_within_a_tick_of_it() -> None:
    deadlines = Deadlines(0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _limited(deadlines, 30) == "timed out"
    took = loop.time() - started
    assert deadlines.seconds <= took <= deadlines.seconds + deadlines.tick + 0.5  # loop slack


async def test_only_the_overdue_requests_are_ended() -> None:
    deadlines = Deadlines(0.6)
    slow = asyncio.create_task(_limited(deadlines, 30))
    await asyncio.sleep(0.3)
    quick = asyncio.create_task(_limited(deadlines, 0.45))  # ends before its own limit
    later = asyncio.create_task(_limited(deadlines, 30))  # started later: ends later
    assert await slow == "timed out"
    assert not later.done()
    assert await quick == "done"
    assert await later == "timed out"


async def test_a_finished_request_is_not_ended_afterwards() -> None:
    deadlines = Deadlines(0.2)
    assert await _limited(deadlines, 0.01) == "done"
    # Its task goes on to other work past the limit, and is not cancelled by a stale deadline.
    await asyncio.sleep(deadlines.seconds + 3 * deadlines.tick)
    assert await _limited(deadlines, 0.01) == "done"


async def test_many_requests_share_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_at = loop.call_at

    def counted(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        timers.append(when)
        return call_at(when, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counted)
    deadlines = Deadlines(30)
    # Requests that yield without timers of their own (asyncio.sleep(0) sets none).
    results = await asyncio.gather(*(_limited(deadlines, 0) for _ in range(200)))
    assert results == ["done"] * 200
    # asyncio.timeout() would have put 200 timers on the heap; the watch puts one.
    assert len(timers) == 1


def test_a_new_event_loop_starts_afresh() -> None:
    # Tests run a loop each: a request left behind on a closed loop must not be expired from the
    # next one (its task is another loop's).
    deadlines = Deadlines(0.2)
    abandoned = asyncio.Timeout(None)

    async def abandon() -> None:
        await abandoned.__aenter__()
        deadlines.watch(abandoned)  # never forgotten: its loop ends first

    asyncio.run(abandon())
    assert asyncio.run(_limited(deadlines, 30)) == "timed out"  # past the abandoned deadline
    assert abandoned.when() is None  # still without a deadline: never expired


def test_each_event_loop_keeps_its_own_requests() -> None:
    # Two loops at once (a test client's thread beside the test's loop): a request on one must
    # still be ended while the other comes and goes.
    deadlines = Deadlines(0.3)
    results: dict[str, str] = {}

    def run(name: str, seconds: float) -> None:
        results[name] = asyncio.run(_limited(deadlines, seconds))

    slow = threading.Thread(target=run, args=("slow", 30), daemon=True)
    slow.start()
    time.sleep(0.1)
    quick = threading.Thread(target=run, args=("quick", 0.01), daemon=True)
    quick.start()
    quick.join(5)
    slow.join(5)
    assert results == {"slow": "timed out", "quick": "done"}
