"""How many requests per second the built-in simulator serves on one core at zero latency.

The simulator runs in a child process pinned to one core (os.sched_setaffinity); the load
comes from another process pinned to another core, so the figure is the server's, not the
client's. Two load generators: a minimal keep-alive HTTP/1.1 client on raw asyncio
protocols (uvloop), which needs far less CPU per request than the server and so measures
the server, and aiohttp (a realistic client, for comparison).

    .venv/bin/python scripts/bench_sim.py            # 5 s per scenario
    .venv/bin/python scripts/bench_sim.py --quick    # 2 s per scenario
    .venv/bin/python scripts/bench_sim.py --only rolling   # the strictest profile alone
    .venv/bin/python scripts/bench_sim.py --in-process     # the ASGI app alone, per setup

A row per provider profile (`asyncgen sim profiles`) with limits set far above what the
core serves (every request pays for its limiter and header dialect), and the strictest
setup: the openai profile with the rolling-window limiter, strict validation and every
header.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

TARGET = 5_000
CONNECTIONS = 64
WARMUP = 0.5


@dataclass(frozen=True)
class Scenario:
    """One row of the table."""

    name: str
    generator: str
    stream: bool = False
    limits: bool = False
    settings: tuple[tuple[str, Any], ...] = ()


# Limits far above what one core serves, so every request is admitted and pays for the
# limiter and its headers; a daily budget (groq) instead of the per-minute requests.
HIGH_LIMITS = {"rpm": 100_000_000, "tpm": 10_000_000_000}
HIGH_DAILY = {"rpd": 100_000_000_000, "tpm": 10_000_000_000}
PROFILE_NAMES = (
    "openai",
    "azure",
    "anthropic",
    "openrouter",
    "groq",
    "together",
    "vllm",
    "litellm-proxy",
)
STRICTEST = "openai, rolling+strict+headers"

SCENARIOS = (
    Scenario("completion, no limits", "raw"),
    Scenario("completion, rpm+tpm headers", "raw", limits=True),
    Scenario("stream (SSE + usage chunk)", "raw", stream=True),
    Scenario("completion, no limits", "aiohttp"),
    *(
        Scenario(f"profile {name}, limits", "raw", limits=True, settings=(("profile", name),))
        for name in PROFILE_NAMES
    ),
    Scenario(
        STRICTEST,
        "raw",
        limits=True,
        settings=(("profile", "openai"), ("limiter", "rolling"), ("strict", True)),
    ),
)


def _bodies(stream: bool, count: int = 512) -> list[bytes]:
    """Distinct request bodies, so the server computes a fresh answer for each."""
    out = []
    for i in range(count):
        payload = {
            "model": "bench",
            "messages": [{"role": "user", "content": f"Question {i}: how should I plan trip {i}?"}],
            "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
        }
        out.append(json.dumps(payload).encode())
    return out


# ---------------------------------------------------------------- raw load generator


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending requests back to back."""

    def __init__(self, requests: list[bytes], state: dict[str, Any], index: int) -> None:
        self.requests = requests
        self.state = state
        self.index = index
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.index = (self.index + 1) % len(self.requests)
        self.transport.write(self.requests[self.index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (size := _response_size(self.buffer)) is not None:
            status = self.buffer[9:12]
            self.buffer = self.buffer[size:]
            state = self.state
            if state["counting"]:
                state["done"] += 1
                if status != b"200":
                    state["errors"] += 1
            if state["stop"]:
                assert self.transport is not None
                self.transport.close()
                return
            self._send()


def _response_size(buffer: bytes) -> int | None:
    """Length of the first complete HTTP response in `buffer`, or None if incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].lower()
    marker = head.find(b"content-length:")
    if marker >= 0:
        end = head.find(b"\r\n", marker)
        length = int(head[marker + 15 : end if end >= 0 else None])
        total = head_end + 4 + length
        return total if len(buffer) >= total else None
    tail = buffer.find(b"\r\n0\r\n\r\n", head_end)
    return tail + 7 if tail >= 0 else None


async def _raw_load(port: int, stream: bool, duration: float, connections: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer bench\r\nContent-Type: application/json\r\n"
    )
    requests = [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in _bodies(stream)]
    state: dict[str, Any] = {"done": 0, "errors": 0, "counting": False, "stop": False}
    for i in range(connections):
        await loop.create_connection(
            lambda i=i: _Connection(requests, state, i * 7), "127.0.0.1", port
        )
    elapsed, cpu = await _measure(state, duration)
    state["stop"] = True
    await asyncio.sleep(0.1)
    return {"requests": state["done"], "errors": state["errors"], "seconds": elapsed, "cpu": cpu}


async def _measure(state: dict[str, Any], duration: float) -> tuple[float, float]:
    """Warm up, then count answers for `duration`; the window's wall and CPU seconds."""
    await asyncio.sleep(WARMUP)
    state["counting"] = True
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.sleep(duration)
    state["counting"] = False
    return time.perf_counter() - started, time.process_time() - cpu


# ------------------------------------------------------------ aiohttp load generator


async def _aiohttp_load(
    port: int, stream: bool, duration: float, connections: int
) -> dict[str, Any]:
    import aiohttp

    bodies = _bodies(stream)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    state = {"done": 0, "errors": 0, "counting": False, "stop": False}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        i = offset
        while not state["stop"]:
            i = (i + 1) % len(bodies)
            async with session.post(url, data=bodies[i], headers=headers) as response:
                await response.read()
                if state["counting"]:
                    state["done"] += 1
                    state["errors"] += response.status != 200

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(worker(session, i * 7)) for i in range(connections)]
        elapsed, cpu = await _measure(state, duration)
        state["stop"] = True
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"requests": state["done"], "errors": state["errors"], "seconds": elapsed, "cpu": cpu}


def client_main(args: argparse.Namespace) -> None:
    """Load-generator process: pin to its core, drive the server, print JSON."""
    os.sched_setaffinity(0, {args.core})
    import uvloop

    load = _raw_load if args.generator == "raw" else _aiohttp_load
    result = uvloop.run(load(args.port, args.stream, args.duration, args.connections))
    print(json.dumps(result))


# ------------------------------------------------------------------ in-process timing


def in_process(count: int = 20_000) -> None:
    """Server CPU per request of the ASGI app alone (no sockets, no uvicorn), per setup.

    Runs against whatever `asyncgen` is importable, so an older checkout can be timed
    side by side (settings it does not know are skipped).
    """
    from asyncgen.config import SimSettings
    from asyncgen.sim.app import SimApp

    setups: dict[str, dict[str, Any]] = {
        "completion, no limits": {},
        "completion, rpm+tpm": dict(HIGH_LIMITS),
        "openai, rolling+strict": {**HIGH_LIMITS, "limiter": "rolling", "strict": True},
        "anthropic, rpm+tpm": {**HIGH_LIMITS, "profile": "anthropic"},
    }
    bodies = _bodies(False)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", b"Bearer bench")],
    }

    async def send(message: Any) -> None:
        return None

    async def drive(app: Any, n: int) -> float:
        started = time.process_time()
        for i in range(n):
            body = bodies[i % len(bodies)]

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await app(dict(scope), receive, send)
        return time.process_time() - started

    for name, overrides in setups.items():
        if not set(overrides) <= set(SimSettings.model_fields):
            print(f"{name:28} (not in this version)")
            continue
        app = SimApp(SimSettings(**overrides))
        asyncio.run(drive(app, 2_000))  # warm-up: caches, first keys
        seconds = asyncio.run(drive(app, count))
        print(f"{name:28} {seconds / count * 1e6:6.1f} us CPU per request")


# ---------------------------------------------------------------------------- driver


def _cores() -> tuple[int, int]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        sys.exit("bench_sim needs two cores (one for the server, one for the load)")
    return cores[0], cores[1]


def run_scenario(scenario: Scenario, duration: float, connections: int) -> dict[str, Any]:
    """Start a pinned simulator, drive it from a pinned client process, return the figures."""
    from asyncgen.sim import SimulatorProcess

    server_core, client_core = _cores()
    settings = dict(scenario.settings)
    if scenario.limits:
        daily = settings.get("profile") == "groq"
        settings.update(HIGH_DAILY if daily else HIGH_LIMITS)
    with SimulatorProcess(**settings) as sim:
        assert sim.pid is not None
        os.sched_setaffinity(sim.pid, {server_core})
        command = [
            sys.executable,
            __file__,
            "--client",
            f"--port={sim.port}",
            f"--core={client_core}",
            f"--generator={scenario.generator}",
            f"--duration={duration}",
            f"--connections={connections}",
            *(["--stream"] if scenario.stream else []),
        ]
        cpu_before = _cpu_seconds(sim.pid)
        done_before = sim.stats()["completions"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        cpu = _cpu_seconds(sim.pid) - cpu_before
        served = sim.stats()["completions"] - done_before
        result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["seconds"]
    result["cpu_us"] = cpu / max(1, served) * 1e6
    result["capacity"] = served / cpu if cpu > 0 else float("inf")
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc), busy or not."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    """Run every scenario and print the table with ratios to the 5,000 req/s target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per scenario")
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this")
    parser.add_argument(
        "--in-process", action="store_true", help="time the ASGI app alone (no sockets)"
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--generator", default="raw", help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return 0
    if args.in_process:
        in_process()
        return 0
    duration = args.duration or (2.0 if args.quick else 5.0)
    server_core, client_core = _cores()
    print(
        f"simulator pinned to core {server_core}, load on core {client_core}, "
        f"{args.connections} keep-alive connections, {duration:g} s per scenario, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = (
        f"{'scenario':34} {'load':8} {'req/s':>7} {'vs 5,000':>9} "
        f"{'CPU us/req':>10} {'server':>6} {'client':>6} {'req/CPU-s':>9} {'vs 5,000':>9} "
        f"{'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    worst = float("inf")
    strictest = 0.0
    for scenario in (each for each in SCENARIOS if args.only in each.name):
        result = run_scenario(scenario, duration, args.connections)
        rps, capacity = result["rps"], result["capacity"]
        if scenario.generator == "raw" and not scenario.stream:
            worst = min(worst, rps)
        if scenario.name == STRICTEST:
            strictest = rps
        print(
            f"{scenario.name:34} {scenario.generator:8} {rps:7.0f} {rps / TARGET:8.2f}x "
            f"{result['cpu_us']:10.0f} {rps * result['cpu_us'] / 1e4:5.0f}% "
            f"{100 * result['cpu'] / result['seconds']:5.0f}% "
            f"{capacity:9.0f} {capacity / TARGET:8.2f}x "
            f"{result['errors']:6d}",
            flush=True,
        )
    verdict = "meets" if worst >= TARGET else "misses"
    print(f"completions on one core: {worst:.0f} req/s measured ({verdict} {TARGET:,} req/s)")
    verdict = "meets" if strictest >= TARGET else "misses"
    print(f"strictest profile ({STRICTEST}): {strictest:.0f} req/s ({verdict} {TARGET:,})")
    print("req/CPU-s = completions per second of the server's own CPU time: its one-core")
    print("capacity, unaffected by other processes sharing the core during the run;")
    print("server/client = the share of its core each process used while measured; both")
    print("well below 100% means other processes held the cores (the machine was busy)")
    return 0 if worst > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
