"""imports.run_in_agency_order: files of different agencies write at once, an agency's in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from app.services.imports import run_in_agency_order


class Files:
    """Files given as their agencies; records what happens, and lets a test hold a write."""

    def __init__(self, *agencies: str | None) -> None:
        self.agencies = agencies
        self.events: list[str] = []
        self.release = {i: asyncio.Event() for i in range(len(agencies))}
        self.writing: set[int] = set()
        self.most_at_once = 0

    async def read(self, i: int) -> tuple[frozenset[str], str] | None:
        await asyncio.sleep(0)
        held = self.agencies[i]
        if held is None:  # a file that could not be read
            self.events.append(f"unreadable {i}")
            return None
        return frozenset(held.split("+")), f"file {i}"

    async def write(self, i: int, value: str) -> None:
        assert value == f"file {i}"
        self.events.append(f"start {i}")
        self.writing.add(i)
        self.most_at_once = max(self.most_at_once, len(self.writing))
        await self.release[i].wait()
        self.writing.discard(i)
        self.events.append(f"end {i}")

    async def run(self, jobs: int) -> None:
        async with asyncio.timeout(10):  # a scheduling bug would hang; fail instead
            await run_in_agency_order(len(self.agencies), self.read, self.write, jobs=jobs)


async def _until(condition: Callable[[], bool]) -> None:
    # Yield to the scheduler's jobs until they reach the state the test waits for.
    while not condition():  # noqa: ASYNC110 (the state is the scheduler's, it sets no event)
        await asyncio.sleep(0)


async def test_files_of_different_agencies_write_at_once() -> None:
    files = Files("A", "B")
    running = asyncio.create_task(files.run(jobs=2))
    await _until(lambda: files.writing == {0, 1})  # both hold their write open together
    files.release[1].set()
    files.release[0].set()
    await running
    assert files.most_at_once == 2


async def test_an_agencys_files_write_one_after_another_in_the_order_given() -> None:
    # File 2 shares an agency with file 0 (A+C: a file may hold several): it waits for file 0
    # while file 1 (B) writes alongside.
    files = Files("A", "B", "A+C")
    running = asyncio.create_task(files.run(jobs=3))
    await _until(lambda: files.writing == {0, 1})
    for _ in range(20):
        await asyncio.sleep(0)
    assert 2 not in files.writing
    files.release[1].set()
    files.release[2].set()  # ready, yet it must still wait for file 0
    for _ in range(20):
        await asyncio.sleep(0)
    assert "start 2" not in files.events
    files.release[0].set()
    await running
    assert files.events.index("end 0") < files.events.index("start 2")


async def test_a_later_file_waits_until_every_earlier_file_is_read() -> None:
    # Until file 0 is read nobody knows its agencies: file 1 must not write before that.
    files = Files("A", "B")
    unread = asyncio.Event()
    original = files.read

    async def slow_read(i: int) -> tuple[frozenset[str], str] | None:
        if i == 0:
            await unread.wait()
        return await original(i)

    files.read = slow_read  # type: ignore[method-assign]
    running = asyncio.create_task(files.run(jobs=2))
    for _ in range(50):
        await asyncio.sleep(0)
    assert files.events == []
    unread.set()
    files.release[0].set()
    files.release[1].set()
    await running
    assert sorted(files.events) == ["end 0", "end 1", "start 0", "start 1"]


async def test_one_job_writes_every_file_in_turn_and_skips_unreadable_ones() -> None:
    files = Files("A", None, "B", "A")
    for event in files.release.values():
        event.set()
    await files.run(jobs=1)
    assert files.events == [
        "start 0", "end 0", "unreadable 1", "start 2", "end 2", "start 3", "end 3"
    ]  # fmt: skip
    assert files.most_at_once == 1


async def test_an_error_in_one_write_cancels_the_others_and_is_raised() -> None:
    files = Files("A", "B")
    original = files.write

    async def failing(i: int, value: str) -> None:
        if i == 1:
            await _until(lambda: 0 in files.writing)
            raise RuntimeError("lost the database")
        await original(i, value)

    files.write = failing  # type: ignore[method-assign]
    # Raised as itself, as a serial run raises it, for the CLI's one-line error.
    with pytest.raises(RuntimeError, match="lost the database"):
        await files.run(jobs=2)
    assert "end 0" not in files.events  # file 0's write was cancelled, not finished
