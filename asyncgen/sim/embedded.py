"""Start the simulator in a child process on a free loopback port, and always stop it.

The child (``python -m asyncgen.sim``) gets its settings as JSON in its environment,
binds port 0, and prints one ready line with its real port; the launcher waits for that
line. Stopping sends SIGTERM, then SIGKILL after a timeout. The child runs in its own
session (a Ctrl-C at the terminal reaches only the parent, which can then drain its
in-flight requests), and never outlives the parent: it polls its parent pid and, on
Linux when launched from the main thread, also sets PR_SET_PDEATHSIG.

Use `start_simulator` from async code and `SimulatorProcess` from sync code (fixtures,
scripts).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any

import httpx
from pydantic import ValidationError

from asyncgen.config.sim import FaultRates, SimSettings
from asyncgen.errors import ConfigError
from asyncgen.sim.server import READY_PREFIX

__all__ = ["RunningSimulator", "SimulatorProcess", "simulator_settings", "start_simulator"]

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
_CHILD_MODULE = "asyncgen.sim"


@dataclass
class RunningSimulator:
    """Where a started simulator listens, and how to read its counters."""

    host: str
    port: int
    api_key: str | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (for ``/sim/stats``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stats(self) -> dict[str, Any]:
        """``GET /sim/stats``: the simulator's counters."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(f"{self.root_url}/sim/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def reset_stats(self) -> None:
        """``POST /sim/reset``: zero the counters and rate-limit usage."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(f"{self.root_url}/sim/reset")
        response.raise_for_status()

    def stats_sync(self) -> dict[str, Any]:
        """``GET /sim/stats`` from sync code."""
        response = httpx.get(f"{self.root_url}/sim/stats", timeout=10.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def simulator_settings(settings: SimSettings | None = None, **overrides: Any) -> SimSettings:
    """`settings` (or defaults) with `overrides`; fault names may be given flat (``error_500=0.1``).

    Raises:
        ConfigError: an unknown key or an out-of-range value, one line per problem.
    """
    data = (settings or SimSettings()).model_dump()
    for key, value in overrides.items():
        if key in FaultRates.model_fields:
            data["faults"][key] = value
        elif key == "faults" and isinstance(value, Mapping):
            data["faults"].update(value)
        else:
            data[key] = value
    # Embedded means loopback on a free port, whatever `sim serve` is configured to use.
    data["port"] = overrides.get("port", 0)
    data["host"] = overrides.get("host", "127.0.0.1")
    try:
        return SimSettings.model_validate(data)
    except ValidationError as exc:
        lines = [f"sim.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from exc


def _child_command() -> list[str]:
    return [sys.executable, "-m", _CHILD_MODULE]


def _child_env(settings: SimSettings) -> dict[str, str]:
    env = dict(os.environ)
    env["ASYNCGEN_SIM_SETTINGS_JSON"] = settings.model_dump_json()
    env["ASYNCGEN_SIM_PARENT_PID"] = str(os.getpid())
    # PDEATHSIG fires when the launching *thread* ends, so only trust it from the main thread.
    is_main = threading.current_thread() is threading.main_thread()
    env["ASYNCGEN_SIM_PDEATHSIG"] = "1" if is_main else "0"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _parse_ready(line: str, settings: SimSettings) -> RunningSimulator | None:
    if not line.startswith(READY_PREFIX):
        return None
    address = line[len(READY_PREFIX) :].strip().removeprefix("http://")
    host, _, port = address.rpartition(":")
    return RunningSimulator(host.strip("[]"), int(port), settings.api_key)


def _startup_error(log: IO[bytes], why: str) -> ConfigError:
    log.seek(0)
    tail = log.read().decode("utf-8", "replace").strip().splitlines()[-3:]
    detail = f": {' | '.join(tail)}" if tail else ""
    return ConfigError(f"simulator did not start ({why}){detail}")


class SimulatorProcess:
    """The simulator in a child process, for sync code: ``with SimulatorProcess(s) as sim:``."""

    def __init__(
        self,
        settings: SimSettings | None = None,
        *,
        startup_timeout: float = STARTUP_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
        **overrides: Any,
    ) -> None:
        self.settings = simulator_settings(settings, **overrides)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.running: RunningSimulator | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return self._require().base_url

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._require().root_url

    @property
    def port(self) -> int:
        """The port the child listens on."""
        return self._require().port

    @property
    def api_key(self) -> str | None:
        """The key the simulator requires, if any."""
        return self.settings.api_key

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    def _require(self) -> RunningSimulator:
        if self.running is None:
            raise RuntimeError("simulator not started")
        return self.running

    def stats(self) -> dict[str, Any]:
        """``GET /sim/stats``."""
        return self._require().stats_sync()

    def reset_stats(self) -> None:
        """``POST /sim/reset``."""
        httpx.post(f"{self.root_url}/sim/reset", timeout=10.0).raise_for_status()

    def start(self) -> SimulatorProcess:
        """Launch the child and wait for its ready line.

        Raises:
            ConfigError: the child exited or stayed silent past `startup_timeout`.
        """
        if self._proc is not None:
            return self
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            _child_command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=_child_env(self.settings),
            start_new_session=True,
        )
        atexit.register(self.stop)
        try:
            self.running = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> RunningSimulator:
        assert self._proc is not None and self._proc.stdout is not None and self._log is not None
        deadline = time.monotonic() + self.startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    continue
                line = self._proc.stdout.readline().decode("utf-8", "replace")
                if not line:
                    raise _startup_error(self._log, f"exit code {self._proc.wait()}")
                running = _parse_ready(line, self.settings)
                if running is not None:
                    return running
        raise _startup_error(self._log, f"no ready line within {self.startup_timeout:g}s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout`; idempotent."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.running = None

    def __enter__(self) -> SimulatorProcess:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@asynccontextmanager
async def start_simulator(
    settings: SimSettings | None = None,
    *,
    startup_timeout: float = STARTUP_TIMEOUT,
    stop_timeout: float = STOP_TIMEOUT,
    **overrides: Any,
) -> AsyncIterator[RunningSimulator]:
    """Run the simulator in a child process for the duration of an ``async with``.

    Args:
        settings: the simulator settings (defaults when None); it listens on a free
            127.0.0.1 port unless `host`/`port` overrides say otherwise.
        overrides: SimSettings fields (``rpm=60``) or fault rates (``error_500=0.1``).

    Raises:
        ConfigError: bad overrides, or the child did not start.
    """
    sim_settings = simulator_settings(settings, **overrides)
    with tempfile.TemporaryFile() as log:
        proc = await asyncio.create_subprocess_exec(
            *_child_command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=_child_env(sim_settings),
            start_new_session=True,
        )
        try:
            running = await _await_ready(proc, sim_settings, log, startup_timeout)
            yield running
        finally:
            await _stop_child(proc, stop_timeout)


async def _await_ready(
    proc: asyncio.subprocess.Process, settings: SimSettings, log: IO[bytes], limit: float
) -> RunningSimulator:
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(limit):
            while line := (await proc.stdout.readline()).decode("utf-8", "replace"):
                running = _parse_ready(line, settings)
                if running is not None:
                    return running
    except TimeoutError:
        raise _startup_error(log, f"no ready line within {limit:g}s") from None
    raise _startup_error(log, f"exit code {await proc.wait()}")


async def _stop_child(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM, wait, SIGKILL; when the caller is cancelled meanwhile, kill at once."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    try:
        await asyncio.shield(_reap(proc, grace))
    except asyncio.CancelledError:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        raise


async def _reap(proc: asyncio.subprocess.Process, grace: float) -> None:
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
