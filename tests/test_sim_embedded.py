"""The embedded simulator: a child process on a free port that always goes away."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from asyncgen.config import SimSettings
from asyncgen.errors import ConfigError
from asyncgen.sim import SimulatorProcess, start_simulator


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


async def test_async_start_reports_port_and_stops() -> None:
    """start_simulator yields a base URL on a free loopback port; the port closes on exit."""
    async with start_simulator(SimSettings(seed=5), api_key="k") as sim:
        assert sim.base_url == f"http://127.0.0.1:{sim.port}/v1"
        assert sim.api_key == "k"
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{sim.base_url}/models", headers={"Authorization": "Bearer k"}
            )
        assert response.status_code == 200
        assert (await sim.stats())["requests"] == 0
    async with httpx.AsyncClient(timeout=1.0) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{sim.base_url}/models")


async def test_cancelled_parent_still_stops_the_child() -> None:
    """Cancelling the task that holds the simulator stops the child process."""
    ports: list[int] = []
    ready = asyncio.Event()

    async def hold() -> None:
        async with start_simulator() as sim:
            ports.append(sim.port)
            ready.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(hold())
    await ready.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with httpx.AsyncClient(timeout=1.0) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{ports[0]}/sim/stats")


def test_sync_process_context_manager() -> None:
    """SimulatorProcess starts in `with` and its child is gone afterwards."""
    with SimulatorProcess(rpm=100) as sim:
        pid = sim.pid
        assert pid is not None and _alive(pid)
        assert sim.stats()["requests"] == 0
    assert _wait_gone(pid, 5.0)


def test_bad_overrides_raise_config_error() -> None:
    """An unknown or out-of-range override is a one-line ConfigError naming the key."""
    with pytest.raises(ConfigError, match="sim.rpm"):
        SimulatorProcess(rpm=-5)
    with pytest.raises(ConfigError, match="sim.colour"):
        SimulatorProcess(colour="blue")


@pytest.mark.parametrize("where", ["main thread", "worker thread"])
def test_child_dies_when_the_parent_is_killed(where: str) -> None:
    """SIGKILL on the launching process leaves no orphan, wherever the launch happened."""
    script = textwrap.dedent(
        f"""
        import threading, time
        from asyncgen.sim import SimulatorProcess
        sims = []
        def launch():
            sims.append(SimulatorProcess().start())
        if {where!r} == "main thread":
            launch()
        else:
            worker = threading.Thread(target=launch)
            worker.start()
            worker.join()
            time.sleep(1.0)  # the launching thread is gone; the child must live on
        print(sims[0].pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_gone(child, 5.0)


def test_embedded_is_loopback_on_a_free_port_whatever_the_config() -> None:
    """A config meant for `sim serve` (public host, fixed port) still embeds on 127.0.0.1:free."""
    with SimulatorProcess(SimSettings(host="0.0.0.0", port=8080)) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.port != 8080
        assert sim.start() is sim  # starting twice does not spawn a second child
