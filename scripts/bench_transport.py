"""The transport's matrix: every simulator rate-limit algorithm x {limits given, learned, no
headers}, asyncgen's `complete` path and a naive client side by side.

Each cell: a simulator at 6,000 RPM (or what the algorithm means by it), lognormal latency
(median 0.4 s, sigma 0.5), 3,000 requests, concurrency capped at 50 (the rate needs ~45).

- **asyncgen**: a real `asyncgen complete` process (`--concurrency 50`; `--rpm 6000` when
  limits are given), pinned to core 0; its wall time is the run's own (`summary.json`,
  from the first request to the last result written); CPU is the child's.
- **naive**: `AsyncOpenAI` (SDK defaults: 2 retries) behind an `asyncio.Semaphore(50)`,
  in this process on core 0.
- Modes: `given` = asyncgen told 6,000 RPM, server sends OpenAI headers; `learned` = the
  same server, asyncgen told nothing; `none` = the `vllm` profile (no limit headers and
  no retry-after at all), asyncgen told nothing. The naive client ignores headers, so its
  run on the openai-profile server stands beside both `given` and `learned`. Only when
  asked (`--mode given_bare`): asyncgen told 6,000 RPM by a server of the `vllm` profile
  (a limit the user knows and the endpoint never states).

`ratio` = ideal wall time for the answered requests at 6,000 RPM over actual (1.0 = at the
limit from the first request; the last requests' latency tail, ~0.5-1 s of 30, is in it).
`429 %` = the simulator's 429s over its requests. `lost` = neither a result nor a failure.

Extra rows: faults (5 % 500, 2 % drops, 2 % malformed) on the rolling window; through a
LiteLLM proxy (`litellm --config` on loopback) when `litellm` is installed: the proxy's
own capacity (a deployment without a limit), then each client for 3.5 minutes on a
deployment at 600 RPM, its `ratio` the mean of whole UTC minutes (LiteLLM's fixed
window) over the limit; overhead (no limits, zero latency, 20,000
requests): the transport in-process vs the naive client, requests per CPU-second; and
`asyncgen complete` from start to its first request.

    .venv/bin/python scripts/bench_transport.py            # full (~30 min)
    .venv/bin/python scripts/bench_transport.py --quick    # a fifth of the requests
    .venv/bin/python scripts/bench_transport.py --only rolling_10s --mode none
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from asyncgen.config import LLMSettings
from asyncgen.llm import ChatRequest, Transport
from asyncgen.sim import SimulatorProcess

RPM = 6000
CAP = 50
LATENCY = {"latency_median": 0.4, "latency_sigma": 0.5}
FAULTS = {"error_500": 0.05, "drop_connection": 0.02, "malformed_json": 0.02}
CLIENT_CORE, SIM_CORE = 0, 1
KEY = "sk-bench-0000000000"

ALGORITHMS: dict[str, dict[str, Any]] = {
    "token_bucket": {"limiter": "token_bucket", "rpm": RPM},
    "rolling_1s": {"limiter": "rolling", "rpm": RPM, "sub_window": 1.0},
    "rolling_10s": {"limiter": "rolling", "rpm": RPM, "sub_window": 10.0},
    "fixed_minute": {"limiter": "fixed_minute", "rpm": RPM},
    "fixed_10s": {"limiter": "fixed_10s", "rpm": RPM},
    "gcra": {"limiter": "gcra", "rpm": RPM},
    "concurrency": {"limiter": "concurrency", "concurrency_limit": 45},
    "daily": {"limiter": "daily", "rpd": RPM * 1440},
}
MODES = ("given", "learned", "none")
EXTRA_MODES = ("given_bare",)  # run only when asked: not in the matrix


@dataclass
class Outcome:
    """What one client did on one cell."""

    row: str
    client: str
    n: int
    ok: int = 0
    failed: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    sim_requests: int = 0
    sim_429: int = 0
    ideal_rate: float | None = RPM / 60
    steady_ratio: float | None = None
    note: str = ""
    causes: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        """Requests that ended neither as a result nor as a recorded failure."""
        return self.n - self.ok - self.failed

    @property
    def rps(self) -> float:
        """Answered requests per second of wall time."""
        return self.ok / self.wall if self.wall else 0.0

    @property
    def ratio(self) -> float | None:
        """Ideal time for the answered requests over actual (1.0 = at the limit throughout);
        through the LiteLLM proxy, the mean of its whole minute windows over its limit."""
        if self.steady_ratio is not None:
            return self.steady_ratio
        if not self.ideal_rate or not self.wall:
            return None
        return self.ok / self.ideal_rate / self.wall

    @property
    def share_429(self) -> float:
        """Share of the simulator's requests answered 429."""
        return self.sim_429 / self.sim_requests if self.sim_requests else 0.0


def messages(i: int) -> list[dict[str, str]]:
    """A short distinct prompt per request."""
    return [{"role": "user", "content": f"Complete item {i}: a quiet morning in one line."}]


def pin_here(core: int) -> None:
    """Pin the calling process to one core when the machine has it (Linux)."""
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def pin(pid: int, core: int) -> None:
    """Pin a process to one core when the machine has it (Linux)."""
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {core})


def warm(sim: SimulatorProcess) -> None:
    """One answer before a timed run (loads the responders), then a clean window."""
    headers = {"Authorization": f"Bearer {KEY}", "X-Asyncgen-Kind": "complete"}
    body = {"model": "sim-model", "messages": messages(-1), "max_tokens": 8}
    with httpx.Client(timeout=60) as client:
        for _ in range(2):
            try:
                client.post(f"{sim.base_url}/chat/completions", json=body, headers=headers)
            except httpx.TransportError:
                pass
    time.sleep(1.2)
    sim.reset_stats()


def _with_sim(out: Outcome, sim: SimulatorProcess | None) -> Outcome:
    if sim is not None:
        stats = sim.stats()
        out.sim_requests = int(stats.get("requests", 0))
        out.sim_429 = int(stats.get("rate_limited", 0))
    return out


# -- asyncgen: the real `complete` command --------------------------------------------------


def write_input(path: Path, n: int) -> None:
    """`n` chat requests, one a line, with ids."""
    with path.open("wb") as out:
        for i in range(n):
            line = {"id": f"r{i}", "messages": messages(i), "max_tokens": 32}
            out.write(orjson.dumps(line) + b"\n")


def run_complete(
    base_url: str,
    n: int,
    *,
    rpm: int | None,
    extra: str = "",
    model: str = "sim-model",
    key: str = KEY,
) -> tuple[dict[str, Any], int, int, float, float]:
    """`asyncgen complete` on n requests: (summary, results, failures, wall, child CPU s)."""
    work = Path(tempfile.mkdtemp(prefix="asyncgen-bench-"))
    try:
        write_input(work / "in.jsonl", n)
        config = work / "c.yaml"
        config.write_text("engine:\n  fsync_interval: 1.0\n" + extra)
        cmd = [
            sys.executable, "-m", "asyncgen", "complete",
            "--input", str(work / "in.jsonl"), "--output", str(work / "out.jsonl"),
            "--base-url", base_url, "--model", model, "--concurrency", str(CAP),
            "--config", str(config), "--quiet",
        ]  # fmt: skip
        if rpm:
            cmd += ["--rpm", str(rpm)]
        env = {**os.environ, "OPENAI_API_KEY": key}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.run(
            cmd,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            preexec_fn=lambda: pin_here(CLIENT_CORE),
        )
        total_wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):
            print(proc.stderr[-2000:], file=sys.stderr)
        summary_path = work / "out.run" / "summary.json"
        summary = orjson.loads(summary_path.read_bytes()) if summary_path.exists() else {}
        ok = _count_lines(work / "out.jsonl")
        failed = _count_lines(work / "out.failures.jsonl")
        wall = float(summary.get("wall_time_s") or total_wall)
        return summary, ok, failed, wall, cpu
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) if path.exists() else 0


def asyncgen_cell(
    sim: SimulatorProcess, row: str, n: int, *, rpm: int | None, extra: str = ""
) -> Outcome:
    """One `complete` run against a started simulator."""
    warm(sim)
    summary, ok, failed, wall, cpu = run_complete(sim.base_url, n, rpm=rpm, extra=extra)
    out = Outcome(row, "asyncgen", n, ok=ok, failed=failed, wall=wall, cpu=cpu)
    out.causes = dict(summary.get("failure_reasons") or {})
    return _with_sim(out, sim)


# -- the naive client -------------------------------------------------------------------------


async def drive(
    n: int, workers: int, call: Callable[[int], Awaitable[None]]
) -> tuple[int, int, Counter[str], float, float]:
    """Run `call(i)` for i < n through `workers` coroutines: (ok, failed, causes, wall, cpu)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    ok, causes = 0, Counter[str]()

    async def worker() -> None:
        nonlocal ok
        while not queue.empty():
            i = queue.get_nowait()
            try:
                await call(i)
                ok += 1
            except Exception as exc:  # a benchmark records every failure, whatever its type
                causes[type(exc).__name__] += 1

    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return ok, sum(causes.values()), causes, time.monotonic() - t0, time.process_time() - cpu0


async def naive_run(
    base_url: str,
    row: str,
    n: int,
    workers: int = CAP,
    key: str = KEY,
    model: str = "sim-model",
    seen: Counter[int] | None = None,
) -> Outcome:
    """AsyncOpenAI behind a semaphore, SDK defaults otherwise; `seen` counts the statuses
    of every attempt (its retries included), when given."""
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    out = Outcome(row, "naive", n)
    http_client = None
    if seen is not None:

        async def count(response: httpx.Response) -> None:
            seen[response.status_code] += 1

        http_client = DefaultAsyncHttpxClient(event_hooks={"response": [count]})
    client = AsyncOpenAI(base_url=base_url, api_key=key, http_client=http_client)
    gate = asyncio.Semaphore(workers)

    async def call(i: int) -> None:
        async with gate:
            await client.chat.completions.create(
                model=model,
                messages=messages(i),  # type: ignore[arg-type]
                max_tokens=32,
                extra_headers={"X-Asyncgen-Kind": "complete"},
            )

    out.ok, out.failed, causes, out.wall, out.cpu = await drive(n, workers, call)
    out.causes = dict(causes)
    await client.close()
    return out


def run_loop(coro: Awaitable[Outcome]) -> Outcome:
    """Run one client on a fresh loop (uvloop when installed), the heap frozen first."""
    gc.collect()
    gc.freeze()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def naive_cell(sim: SimulatorProcess, row: str, n: int) -> Outcome:
    """One naive run against a started simulator."""
    warm(sim)
    pin_here(CLIENT_CORE)
    return _with_sim(run_loop(naive_run(sim.base_url, row, n)), sim)


# -- the matrix -------------------------------------------------------------------------------


def simulator(**settings: Any) -> SimulatorProcess:
    """A started simulator pinned to its core."""
    sim = SimulatorProcess(seed=7, **LATENCY, **settings).start()
    if sim.pid is not None:
        pin(sim.pid, SIM_CORE)
    return sim


def matrix(
    algorithms: list[str], n: int, with_naive: bool, wanted_modes: tuple[str, ...] = MODES
) -> list[Outcome]:
    """Every algorithm x mode: asyncgen's `complete`, and the naive client per server."""
    results: list[Outcome] = []
    for name in algorithms:
        server = ALGORITHMS[name]
        for profile, all_modes in (
            ("openai", ("given", "learned")),
            ("vllm", ("none", *EXTRA_MODES)),
        ):
            modes = tuple(m for m in all_modes if m in wanted_modes)
            if not modes:
                continue
            print(f"-- {name} / {profile} ({n} requests)", flush=True)
            naive = None
            if with_naive:
                with fresh_simulator(profile, server) as sim:
                    naive = naive_cell(sim, f"{name}/{modes[0]}", n)
            for mode in modes:
                row = f"{name}/{mode}"
                rpm = RPM if mode.startswith("given") else None
                with fresh_simulator(profile, server) as sim:
                    results.append(asyncgen_cell(sim, row, n, rpm=rpm))
                if naive is not None:
                    results.append(Outcome(**{**asdict(naive), "row": row}))
                print("\n".join(table(results[-2:], True).splitlines()[2:]), flush=True)
    return results


@contextlib.contextmanager
def fresh_simulator(profile: str, server: dict[str, Any]) -> Iterator[SimulatorProcess]:
    """A simulator of its own for one client's run: every client of a row meets the same
    seeded latency draws in the same order (on one shared simulator each run took the next
    slice of the sequence, and a slow draw among a run's last requests, ~1 s of its ~30,
    went with its place in the row, not with the client)."""
    sim = simulator(profile=profile, **server)
    try:
        yield sim
    finally:
        sim.stop()


def faults_row(n: int, with_naive: bool) -> list[Outcome]:
    """Rolling window plus 5 % 500, 2 % drops, 2 % malformed bodies (asyncgen told nothing)."""
    print(f"-- faults on rolling_1s ({n} requests)", flush=True)
    sim = simulator(profile="openai", **ALGORITHMS["rolling_1s"], **FAULTS)
    try:
        out = [asyncgen_cell(sim, "faults/rolling_1s", n, rpm=None)]
        if with_naive:
            out.append(naive_cell(sim, "faults/rolling_1s", n))
        return out
    finally:
        sim.stop()


# -- overhead ---------------------------------------------------------------------------------


async def transport_run(base_url: str, n: int, workers: int) -> Outcome:
    """asyncgen's transport in-process, no limits: what the client costs per request."""
    settings = LLMSettings.model_validate(
        {"provider": "simulator", "model": "sim-model", "limits": {"concurrency": workers}}
    )
    out = Outcome("overhead", "asyncgen", n, ideal_rate=None)
    async with Transport.from_settings(settings, api_key=KEY, base_url=base_url) as client:

        async def call(i: int) -> None:
            await client.chat(ChatRequest(messages=messages(i), kind="complete", max_tokens=32))

        await call(-1)
        out.ok, out.failed, causes, out.wall, out.cpu = await drive(n, workers, call)
        out.causes = dict(causes)
    return out


def overhead_rows(n: int, with_naive: bool, repeat: int = 3) -> list[Outcome]:
    """Best of `repeat` alternating runs per client (a shared machine only slows a run)."""
    print(f"-- overhead: no limits, zero latency ({n} requests, best of {repeat})", flush=True)
    sim = SimulatorProcess(seed=7).start()
    if sim.pid is not None:
        pin(sim.pid, SIM_CORE)
    pin_here(CLIENT_CORE)
    best: dict[str, Outcome] = {}
    try:
        for _ in range(repeat):
            runs = [transport_run(sim.base_url, n, 64)]
            if with_naive:
                runs.append(naive_run(sim.base_url, "overhead", n // 4, workers=64))
            for coro in runs:
                warm(sim)
                out = _with_sim(run_loop(coro), sim)
                out.ideal_rate = None
                key = out.client
                if key not in best or out.n / out.cpu > best[key].n / best[key].cpu:
                    best[key] = out
    finally:
        sim.stop()
    return list(best.values())


def complete_overhead_rows(n: int) -> list[Outcome]:
    """A real `asyncgen complete` process on `n` requests, no limits, zero latency, on the
    default HTTP client and on the aiohttp backend: what the whole process (engine,
    writers, start-up included) costs per request, and what the client's share of it is."""
    print(f"-- overhead of the complete process ({n} requests, native vs aiohttp)", flush=True)
    sim = SimulatorProcess(seed=7).start()
    if sim.pid is not None:
        pin(sim.pid, SIM_CORE)
    rows: list[Outcome] = []
    try:
        for backend in ("native", "aiohttp"):
            warm(sim)
            extra = f"llm:\n  http_backend: {backend}\n"
            summary, ok, failed, wall, cpu = run_complete(sim.base_url, n, rpm=None, extra=extra)
            client = "complete" if backend == "native" else "complete/aiohttp"
            out = Outcome("overhead/complete", client, n, ok=ok, failed=failed, wall=wall)
            out.cpu, out.ideal_rate = cpu, None
            out.causes = dict(summary.get("failure_reasons") or {})
            rows.append(_with_sim(out, sim))
    finally:
        sim.stop()
    return rows


def first_request_delay(repeat: int = 5) -> tuple[float, float, float]:
    """`asyncgen complete` on one request, `repeat` times: the medians of the seconds from
    its start to the request reaching a server (what a user waits before anything
    happens), of the CPU seconds it spent until then, and of its whole run's CPU.

    The CPU to the first request is every thread's time on a CPU (Linux schedstat, read
    when the request arrives): a bound a busy machine inflates much less than the wall
    time. asyncgen's bytecode is compiled first, as `pip install` does: without it every
    start compiles ~80 modules (~0.1 s of CPU in an environment with
    PYTHONDONTWRITEBYTECODE=1 and a source checkout, as a fresh worktree is). The child
    runs in its work folder, so it imports the asyncgen this process compiled (PYTHONPATH
    or the installed one), and is started without a `preexec_fn` (see `_inherited_pin`).
    """
    import compileall

    import asyncgen

    compileall.compile_dir(Path(asyncgen.__file__).parent, quiet=1)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from http_stub import StubServer, completion

    delays: list[float] = []
    first_cpus: list[float] = []
    cpus: list[float] = []
    for _ in range(repeat):
        arrived: list[float] = []
        child: list[int] = []

        def handler(
            body: dict[str, Any],
            number: int,
            arrived: list[float] = arrived,
            child: list[int] = child,
        ) -> tuple[int, Any, dict[str, str]]:
            if not arrived:
                arrived.extend((time.monotonic(), _cpu_seconds(child[0]) if child else 0.0))
            return 200, completion(), {}

        work = Path(tempfile.mkdtemp(prefix="asyncgen-startup-"))
        try:
            write_input(work / "in.jsonl", 1)
            (work / "c.yaml").write_text("engine:\n  fsync_interval: 1.0\n")
            with StubServer(handler) as server:
                cmd = [
                    sys.executable, "-m", "asyncgen", "complete",
                    "--input", str(work / "in.jsonl"), "--output", str(work / "out.jsonl"),
                    "--base-url", server.base_url, "--model", "m", "--concurrency", str(CAP),
                    "--config", str(work / "c.yaml"), "--quiet",
                ]  # fmt: skip
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                with _inherited_pin(CLIENT_CORE):
                    started = time.monotonic()
                    proc = subprocess.Popen(
                        cmd,
                        cwd=work,  # `-m asyncgen` imports from PYTHONPATH, not this folder
                        env={**os.environ, "OPENAI_API_KEY": KEY},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                child.append(proc.pid)
                _, err = proc.communicate(timeout=120)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode:
                print(err.decode(errors="replace")[-2000:], file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        delays.append(arrived[0] - started if arrived else float("nan"))
        first_cpus.append(arrived[1] if arrived else float("nan"))
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return _median(delays), _median(first_cpus), _median(cpus)


@contextlib.contextmanager
def _inherited_pin(core: int) -> Iterator[None]:
    """Pin this thread while it starts a child, which inherits the pin: without a
    `preexec_fn`, Popen can vfork, and its ~9 ms fork of this whole process is not
    counted as the child's start-up."""
    saved = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    pin_here(core)
    try:
        yield
    finally:
        if saved is not None:
            os.sched_setaffinity(0, saved)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds so far of every thread of a running process (nan off Linux)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return total / 1e9


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


# -- LiteLLM ----------------------------------------------------------------------------------

LITELLM_RPM = 600  # the proxy deployment's limit: a third of what the proxy process carried
# here (30.5 requests/s at load 6-8 on 2 cores: 1,200 RPM would be 0.65 of it, not clearly binding)
LITELLM_MINUTES = 3.5  # requests for this many minutes at the limit: two whole windows at least
OPEN_MODEL = "sim-open"  # the same upstream without an rpm: the proxy's own capacity


def proxy_capacity(base_url: str, key: str, n: int) -> Outcome:
    """The naive client on the proxy's deployment without an rpm: requests/s it carries."""
    out = run_loop(naive_run(base_url, "litellm/open", n, key=key, model=OPEN_MODEL))
    out.ideal_rate = None
    return out


def litellm_rows(with_naive: bool, proxy_rpm: int = LITELLM_RPM) -> list[Outcome]:
    """asyncgen `complete` and the naive client through one LiteLLM proxy whose deployment
    rpm binds: the proxy's capacity measured first (a deployment without an rpm, the same
    process), then `LITELLM_MINUTES` minutes of requests at the limit for each client."""
    if shutil.which("litellm") is None and not Path(sys.executable).with_name("litellm").exists():
        print("-- litellm: not installed (pip install 'litellm[proxy]'): row skipped")
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from litellm_proxy import LiteLLMProxy, ProxyMinutes

    n = int(proxy_rpm * LITELLM_MINUTES)
    print(f"-- litellm proxy at {proxy_rpm} RPM ({n} requests per client)", flush=True)
    sim = simulator(profile="openai", rpm=proxy_rpm * 10)
    try:
        with LiteLLMProxy(sim.base_url, rpm=proxy_rpm, open_model=OPEN_MODEL) as proxy:
            warm(sim)
            capacity = _with_sim(proxy_capacity(proxy.base_url, proxy.api_key, 600), sim)
            print(
                f"   proxy capacity {capacity.rps:.1f} requests/s ({capacity.ok} in "
                f"{capacity.wall:.1f} s, naive client, 50 in flight); limit {proxy_rpm / 60:.0f}/s "
                f"= {proxy_rpm / 60 / max(capacity.rps, 1e-9):.2f} of it",
                flush=True,
            )
            outs = [capacity]
            warm(sim)
            with ProxyMinutes(sim, margin=CAP) as minutes:
                summary, ok, failed, wall, cpu = run_complete(
                    proxy.base_url, n, rpm=None, key=proxy.api_key
                )
            out = Outcome("litellm", "asyncgen", n, ok=ok, failed=failed, wall=wall, cpu=cpu)
            out.causes = dict(summary.get("failure_reasons") or {})
            out = _proxy_rate(out, minutes, proxy_rpm)
            # the 429 column: the proxy's refusals over the attempts it saw
            out.sim_429 = int(summary.get("rate_limited") or 0)
            out.sim_requests = int(summary.get("requests") or 0) + int(summary.get("retries") or 0)
            outs.append(out)
            if with_naive:  # the same proxy and limit: what a plain client gets
                warm(sim)
                refusals: Counter[int] = Counter()
                with ProxyMinutes(sim, margin=CAP) as minutes:
                    naive = run_loop(
                        naive_run(proxy.base_url, "litellm", n, key=proxy.api_key, seen=refusals)
                    )
                naive = _proxy_rate(naive, minutes, proxy_rpm)
                naive.sim_429, naive.sim_requests = refusals[429], refusals.total()
                outs.append(naive)
        return outs
    finally:
        sim.stop()


def _proxy_rate(out: Outcome, minutes: Any, proxy_rpm: int) -> Outcome:
    """The achieved rate over the proxy's limit: the mean of whole minutes, or none (a rate
    over the run's wall time would count the first, partial window's whole quota)."""
    whole = minutes.whole_minutes()
    out.ideal_rate = None
    if whole:
        out.steady_ratio = sum(whole) / len(whole) / proxy_rpm
    out.note = f"admitted per whole minute: {whole or 'none (the run ended first)'}"
    print(f"   {out.client}: {out.note}", flush=True)
    return out


# -- report -----------------------------------------------------------------------------------


def target(o: Outcome, naive: Outcome | None) -> str:
    """The issue's target for an asyncgen row, and whether it is met."""
    ratio = o.ratio or 0.0
    if o.row == "overhead":
        per_core = o.n / o.cpu if o.cpu else 0.0
        other = naive.n / naive.cpu if naive and naive.cpu else 0.0
        met = per_core >= 5000 and (not other or per_core >= 10 * other)
        return f">=5000/core, >=10x naive: {'met' if met else 'MISSED'}"
    if o.row.startswith("faults"):
        return f">=0.92, 0 lost: {'met' if ratio >= 0.92 and o.lost == 0 else 'MISSED'}"
    if o.row == "litellm/open":
        return ""
    if o.row == "litellm":
        if not o.sim_429:  # no refusal: the proxy's own speed held the client, not its limit
            return "limit never reached (no 429): not judged"
        met = o.steady_ratio is not None and ratio >= 0.9 and o.failed == 0
        return f">=0.9 of the limit per whole minute, 0 failed: {'met' if met else 'MISSED'}"
    floor = 0.9 if o.row.endswith("/none") else 0.97
    beats = naive is None or (naive.ratio or 0.0) <= ratio
    parts = [
        f">={floor} {_verdict(ratio >= floor and o.lost == 0)}",
        f"429<=2% {_verdict(o.share_429 <= 0.02)}",
        f">=naive {_verdict(beats)}",
    ]
    if naive is not None and naive.failed and not beats:  # its ratio counts what it answered
        parts[-1] += f" (naive failed {naive.failed}/{naive.n})"
    return "; ".join(parts)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def table(results: list[Outcome], full: bool) -> str:
    """A markdown table, asyncgen and naive side by side per row."""
    head = (
        "| row | client | ok / n | failed | lost | wall s | ratio | 429 % "
        "| CPU ms/req | req/CPU-s | target |"
    )
    lines = [head, "|" + "---|" * 11]
    naive = {o.row: o for o in results if o.client == "naive"}
    for o in results:
        verdict = target(o, naive.get(o.row)) if o.client == "asyncgen" else ""
        if verdict and not full:
            verdict = "(judged at full size)"
        ratio = "-" if o.ratio is None else f"{o.ratio:.3f}"
        per_cpu = f"{o.n / o.cpu:.0f}" if o.cpu else "-"
        cells = [
            o.row,
            o.client,
            f"{o.ok}/{o.n}",
            str(o.failed),
            str(o.lost),
            f"{o.wall:.2f}",
            ratio,
            f"{100 * o.share_429:.2f}",
            f"{1000 * o.cpu / max(o.n, 1):.3f}",
            per_cpu,
            verdict,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and the extra rows; print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fifth of the requests")
    parser.add_argument(
        "--only",
        action="append",
        choices=[*ALGORITHMS, "faults", "overhead", "litellm", "startup"],
        help="run only these rows (repeatable)",
    )
    parser.add_argument(
        "--mode",
        action="append",
        choices=[*MODES, *EXTRA_MODES],
        help="run only these modes of the matrix rows (repeatable; default: all three)",
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive client")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    n = int(3000 * scale)
    wanted = set(args.only or [*ALGORITHMS, "faults", "overhead", "litellm", "startup"])
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results: list[Outcome] = []
    if "overhead" in wanted:
        results += overhead_rows(int(20000 * scale), not args.no_naive)
        results += complete_overhead_rows(int(5000 * scale))
    modes = tuple(args.mode or MODES)
    results += matrix([a for a in ALGORITHMS if a in wanted], n, not args.no_naive, modes)
    if "faults" in wanted:
        results += faults_row(n, not args.no_naive)
    if "litellm" in wanted:
        results += litellm_rows(not args.no_naive, proxy_rpm=int(LITELLM_RPM * scale))
    print(table(results, full=not args.quick))
    for o in results:
        if o.causes:
            print(f"   {o.row}/{o.client}: {o.causes}")
    if "startup" in wanted:
        delay, first_cpu, cpu = first_request_delay()
        print(
            f"asyncgen complete, start to first request: {delay:.3f} s (median of 5; "
            f"target <= 0.3 s: {'met' if delay <= 0.3 else 'MISSED'}), CPU until then "
            f"{first_cpu:.3f} s; CPU of the whole one-request run {cpu:.3f} s"
        )
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        payload = [{**asdict(o), "ratio": o.ratio, "lost": o.lost} for o in results]
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
