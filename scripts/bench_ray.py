"""One run across a loopback Ray cluster: the shared limit, and throughput by worker count.

Starts one local cluster (127.0.0.1 only, as `--ray local` does) and a simulator child
process, then runs real `asyncgen generate --pipeline dialogue --ray ADDRESS` drivers:

- `limit`: two workers against the simulator at `--rpm` (12,000 by default): the steady
  rate (completions per second between the first and last quarter of the busy period,
  read from the simulator's counters every 0.25 s) over the limit, the 429 share, and
  whether the run holds exactly n records.
- `scale`: no limit: the same run locally (no Ray), on 1 worker and on 2 workers; requests
  per second over the run's wall time, and CPU seconds per request by process group
  (driver, workers, dedup service, coordinator, Ray's own daemons, simulator), read from
  /proc from the first request to the last (start-up, end-of-run exports and shutdown
  left out; the live report refresh is off), which says what bounds the throughput.

    .venv/bin/python scripts/bench_ray.py                 # n=1500 per run
    .venv/bin/python scripts/bench_ray.py --quick         # n=500
    .venv/bin/python scripts/bench_ray.py --skip-limit --repeats 3   # medians of 3 rounds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERTZ = os.sysconf("SC_CLK_TCK")
OTHERS: set[str] = set()
GROUPS = ("driver", "workers", "dedup", "coordinator", "ray", "simulator", "other")


def main() -> int:
    """Run the scenarios; print a table; write bench-results/ray-<stamp>.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="dialogues per run")
    parser.add_argument("--rpm", type=int, default=12_000, help="the limit of the limit run")
    parser.add_argument("--quick", action="store_true", help="n=500")
    parser.add_argument("--skip-limit", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="scale rounds (alternating)")
    args = parser.parse_args()
    n = 500 if args.quick else args.n

    from asyncgen.cluster.connect import connect
    from asyncgen.dialogue.synthetic import write_multiwoz
    from asyncgen.sim import SimulatorProcess

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    dataset = write_multiwoz(work / "mw.jsonl", max(4 * n, 2000), seed=3)
    config = work / "c.yaml"
    config.write_text(
        "llm:\n  model: sim-model\nengine:\n  max_workers: 64\n  metrics_interval: 1.0\n"
        "dialogue:\n  retry_backoff: 0.0\nreport:\n  refresh_during_run: false\n"
    )
    cluster = connect("local", num_cpus=4)
    results: dict[str, Any] = {"n": n, "load_before": os.getloadavg(), "runs": []}
    try:
        if not args.skip_limit:
            sim = SimulatorProcess(rpm=args.rpm, latency_median=0.03, latency_sigma=0.3).start()
            try:
                run = drive(cluster.address, 2, n, sim, dataset, config, work / "limit")
                run["scenario"] = f"limit {args.rpm:,} RPM, 2 workers"
                run["limit_per_s"] = args.rpm / 60
                results["runs"].append(run)
            finally:
                sim.stop()
        rounds = [] if args.skip_scale else [w for _ in range(args.repeats) for w in (0, 1, 2)]
        if rounds:
            for k, workers in enumerate(rounds):
                sim = SimulatorProcess(latency_median=0.03, latency_sigma=0.3).start()
                try:
                    out = work / f"scale-{k}-{workers}"
                    run = drive(cluster.address, workers, n, sim, dataset, config, out)
                    name = f"{workers} workers" if workers else "local (no Ray)"
                    run["scenario"] = f"no limit, {name}"
                    results["runs"].append(run)
                finally:
                    sim.stop()
    finally:
        cluster.shutdown()
    results["load_after"] = os.getloadavg()
    results["medians"] = medians(results["runs"])
    results["unclassified_processes"] = sorted(OTHERS)
    report(results)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    path = out / f"ray-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return 0


def drive(
    address: str, workers: int, n: int, sim: Any, dataset: Path, config: Path, out: Path
) -> dict[str, Any]:
    """One driver run (workers=0: a local run, no Ray); sim counters and CPU by group."""
    command = [
        sys.executable, "-m", "asyncgen", "generate", "--pipeline", "dialogue",
        "--n", str(n), "--out", str(out), "--base-url", sim.base_url,
        "--dataset-path", str(dataset), "--config", str(config), "--quiet",
    ]  # fmt: skip
    if workers:
        command += ["--ray", address, "--ray-workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    samples: list[tuple[float, int]] = []
    cpu_start: dict[int, tuple[str, float]] = {}
    cpu_last: dict[int, tuple[str, float]] = {}
    cpu_end: dict[int, tuple[str, float]] = {}
    previous = -1
    while proc.poll() is None:
        completions = int(sim.stats()["completions"])
        samples.append((time.monotonic(), completions))
        usage = cpu_by_pid(proc.pid, sim)
        if completions == 0:
            cpu_start = usage  # CPU before the first request: startup, not the run
        for pid, (group, seconds) in usage.items():
            if group == "other" and pid in cpu_last:  # exited: keep what it was
                group = cpu_last[pid][0]
            cpu_last[pid] = (group, seconds)
        if completions > previous:  # CPU up to the last request: exports and shutdown left out
            cpu_end = dict(cpu_last)
            previous = completions
        time.sleep(0.25)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"driver failed: {err.decode()[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    stats = sim.stats()
    lines = (out / "records.jsonl").read_bytes().splitlines()
    ids = {json.loads(line)["id"] for line in lines}
    groups = dict.fromkeys(GROUPS, 0.0)
    for pid, (group, seconds) in cpu_end.items():
        groups[group] += seconds - cpu_start.get(pid, (group, 0.0))[1]
    requests = int(summary["requests"])
    return {
        "workers": workers,
        "done": summary["done"],
        "exact": len(lines) == n and len(ids) == n,
        "requests": requests,
        "wall_s": summary["wall_time_s"],
        "requests_per_s": requests / summary["wall_time_s"],
        "steady_per_s": steady_rate(samples),
        "sim_requests": stats["requests"],
        "rate_limited": stats["rate_limited"],
        "dedup_rejects": summary["dedup_rejects"],
        "cpu_s": {k: round(v, 2) for k, v in groups.items()},
        "cpu_ms_per_request": round(1000 * sum(groups.values()) / max(1, requests), 3),
        "load": os.getloadavg(),
    }


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per scenario: the median of each rate and of CPU per request over the repeats."""
    import statistics

    by: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by.setdefault(run["scenario"], []).append(run)
    keys = ("requests_per_s", "steady_per_s", "cpu_ms_per_request")
    return {
        name: {key: round(statistics.median(r[key] for r in group), 2) for key in keys}
        | {"repeats": len(group)}
        for name, group in by.items()
    }


def steady_rate(samples: list[tuple[float, int]]) -> float:
    """Completions per second between the first and last quarter of the busy period."""
    busy = [(t, c) for t, c in samples if c > 0]
    if len(busy) < 8:
        return 0.0
    last = max(c for _, c in busy)
    busy = [(t, c) for t, c in busy if c < last] or busy
    start, end = busy[len(busy) // 4], busy[-1 - len(busy) // 4]
    return (end[1] - start[1]) / max(1e-9, end[0] - start[0])


def cpu_by_pid(driver: int, sim: Any) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of every descendant of this process, by group."""
    table: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / HERTZ
        table[int(entry.name)] = (int(fields[1]), cmdline, cpu)
    sim_pid = sim.pid
    found: dict[int, tuple[str, float]] = {}
    for pid, (_, _, cpu) in table.items():
        chain = ancestors(pid, table)
        if os.getpid() not in chain or pid == os.getpid():
            continue
        found[pid] = (classify(pid, chain, table, driver, sim_pid), cpu)
    return found


def ancestors(pid: int, table: dict[int, tuple[int, str, float]]) -> list[int]:
    chain = [pid]
    while chain[-1] in table and table[chain[-1]][0] not in (0, chain[-1]) and len(chain) < 64:
        chain.append(table[chain[-1]][0])
    return chain


def classify(
    pid: int, chain: list[int], table: dict[int, tuple[int, str, float]], driver: int,
    sim_pid: int | None,
) -> str:  # fmt: skip
    if sim_pid is not None and sim_pid in chain:
        return "simulator"
    for member in chain:
        cmdline = table.get(member, (0, "", 0.0))[1]
        if "ray::DedupService" in cmdline:
            return "dedup"
        if "ray::ShardWorker" in cmdline:
            return "workers"
        if "ray::RateCoordinator" in cmdline or "ray::RateRegistry" in cmdline:
            return "coordinator"
    if driver in chain:
        return "driver"  # a local run's dedup embedder child counts here too
    cmdline = table[pid][1]
    if "ray" in cmdline or "gcs_server" in cmdline or "raylet" in cmdline:
        return "ray"
    OTHERS.add(cmdline[:80])
    return "other"


def report(results: dict[str, Any]) -> None:
    """The table of runs, then the medians per scenario."""
    _runs(results)
    for name, values in medians(results["runs"]).items():
        print(f"median {name}: {values}")


def _runs(results: dict[str, Any]) -> None:
    print(f"n={results['n']}, load before {results['load_before']}, after {results['load_after']}")
    print("| scenario | done/exact | req/s (wall) | steady req/s | 429s | CPU ms/req | CPU s |")
    print("|---|---|---:|---:|---:|---:|---|")
    for run in results["runs"]:
        groups = ", ".join(f"{k} {v:.1f}" for k, v in run["cpu_s"].items() if v >= 0.05)
        limit = run.get("limit_per_s")
        steady = f"{run['steady_per_s']:.1f}" + (
            f" ({run['steady_per_s'] / limit:.3f} of limit)" if limit else ""
        )
        print(
            f"| {run['scenario']} | {run['done']}/{run['exact']} | {run['requests_per_s']:.1f} "
            f"| {steady} | {run['rate_limited']}/{run['sim_requests']} "
            f"| {run['cpu_ms_per_request']:.2f} | {groups} |"
        )


if __name__ == "__main__":
    sys.exit(main())
