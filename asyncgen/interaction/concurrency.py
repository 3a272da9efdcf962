"""Run a coroutine function over many items with a fixed number of workers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio
from anyio.abc import ObjectReceiveStream

T = TypeVar("T")
R = TypeVar("R")


async def bounded_map(func: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """`[await func(x) for x in items]` with at most `limit` in flight, results in order.

    Workers pull indices from a bounded stream, so no task is created per item.
    """
    results: list[R | None] = [None] * len(items)
    send, receive = anyio.create_memory_object_stream[int](max(1, limit))

    async def worker(stream: ObjectReceiveStream[int]) -> None:
        async with stream:
            async for index in stream:
                results[index] = await func(items[index])

    async with anyio.create_task_group() as group:
        for _ in range(max(1, min(limit, len(items)))):
            group.start_soon(worker, receive.clone())
        receive.close()
        async with send:
            for index in range(len(items)):
                await send.send(index)
    return results  # type: ignore[return-value]  # every slot was filled above
