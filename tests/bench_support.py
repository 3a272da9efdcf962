"""The simulator in-process for bench tests: uvicorn on a loopback socket, same event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from asyncgen.config.sim import SimSettings
from asyncgen.sim.app import SimApp
from asyncgen.sim.server import bind_socket


@contextlib.asynccontextmanager
async def inprocess_sim(scale: float = 1.0, **settings: Any) -> AsyncIterator[tuple[str, SimApp]]:
    """The simulator on a loopback port in this event loop; `scale` speeds its limit clock."""
    sim_settings = SimSettings(**settings)
    t0, w0 = time.monotonic(), time.time()

    def clock() -> float:
        return t0 + (time.monotonic() - t0) * scale

    def wall() -> float:
        return w0 + (time.time() - w0) * scale

    app = SimApp(sim_settings, clock=clock, wall=wall)
    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.01)
    port = sock.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", app
    finally:
        server.should_exit = True
        await task
        sock.close()
