"""The local engine: many items in flight on one asyncio loop, streaming, bounded.

Items are pulled from an iterator only when a slot frees up, and each result is handed to
``on_result`` and dropped: memory holds at most ``max_in_flight`` items whatever the size
of the run. Per-role limits (how many calls reach each server) live in the model gate; this
bound is only how many *samples* are open at once.

Example::

    async def work(seed): return await make_sample(seed, ctx)
    async def done(seed, sample, error): ...          # commit or record the failure
    stats = await run_local(iter_seeds(...), work, done, max_in_flight=64)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Called once per item with (item, result, None) or (item, None, error). Returning False
#: stops the engine from starting new items (items in flight still finish).
OnResult = Callable[[T, R | None, BaseException | None], Awaitable[bool | None]]


@dataclass
class EngineStats(Generic[T]):
    started: int = 0
    finished: int = 0
    errors: int = 0
    stopped_early: bool = False


async def run_local(
    items: Iterable[T],
    work: Callable[[T], Awaitable[R]],
    on_result: OnResult[T, R],
    *,
    max_in_flight: int = 64,
) -> EngineStats[T]:
    """Run ``work`` over ``items`` with at most ``max_in_flight`` running at once."""
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be at least 1")
    stats: EngineStats[T] = EngineStats()
    source = iter(items)
    running: dict[asyncio.Task[R], T] = {}
    stop = False

    def fill() -> None:
        nonlocal stop
        while not stop and len(running) < max_in_flight:
            try:
                item = next(source)
            except StopIteration:
                stop = True
                return
            running[asyncio.ensure_future(work(item))] = item
            stats.started += 1

    try:
        fill()
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                item = running.pop(task)
                error = task.exception()
                result = None if error is not None else task.result()
                stats.finished += 1
                stats.errors += error is not None
                keep_going = await on_result(item, result, error)
                if keep_going is False:
                    stats.stopped_early = True
                    stop = True
            fill()
    finally:
        # Cancelled from outside (Ctrl-C): cancel what is left; nothing was counted for it.
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    return stats
