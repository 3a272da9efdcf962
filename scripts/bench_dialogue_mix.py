"""Realised dialogue mix: the plan alone, and an end-to-end run on the simulator.

    .venv/bin/python scripts/bench_dialogue_mix.py --plan 5000 --fail-rate 0.15
    .venv/bin/python scripts/bench_dialogue_mix.py --e2e 2000 --malformed-rate 0.05

The plan check replays the engine's replacement rule (a failed item is replaced by the
next plan index) with seeded random failures. The end-to-end run builds a synthetic
MultiWOZ-schema dataset (no download), starts the simulator on loopback, runs the dialogue
pipeline through the engine with the semantic gate, and audits the records.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from asyncgen.config import RunConfig, load_config
from asyncgen.config.dialogue import RESOLUTION_STATUSES, SERVICE_WEIGHTS

ORIGINAL = {"single": 48.8, "double": 31.9, "triple": 13.3, "quadruple": 6.0}


def plan_mix(n: int, fail_rate: float, seed: int) -> tuple[Counter[str], Counter[str], int]:
    """Service and status counts of the first `n` successes when items fail at random."""
    from asyncgen.dialogue import DialoguePipeline

    config = load_config(
        overrides={"dialogue.allow_base_reuse": True, "engine.seed": seed},
        environ={},
        env_file=None,
    )
    pipeline = DialoguePipeline(config)
    rng = random.Random(seed)
    services: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    cursor = 0
    while sum(services.values()) < n:
        payload = pipeline.plan_item(cursor).payload
        cursor += 1
        if rng.random() < fail_rate:
            continue
        services[payload["service_count"]] += 1
        statuses[payload["resolution_status"]] += 1
    return services, statuses, cursor


def print_table(title: str, counts: dict[str, float], weights: dict[str, float]) -> None:
    """Target, realised and gap per class, with the original run's figures for services."""
    total = sum(weights.values())
    print(f"\n{title}")
    print(f"{'class':<11}{'target %':>10}{'realised %':>12}{'gap pt':>8}{'original %':>12}")
    for name, weight in weights.items():
        target = 100 * weight / total
        realised = counts.get(name, 0.0)
        original = ORIGINAL.get(name)
        orig = f"{original:>12.1f}" if original is not None and title.startswith("serv") else ""
        print(f"{name:<11}{target:>10.1f}{realised:>12.2f}{realised - target:>+8.2f}{orig}")


def _pct(counter: Counter[str]) -> dict[str, float]:
    total = sum(counter.values())
    return {k: 100 * v / total for k, v in counter.items()}


async def e2e(n: int, malformed_rate: float, seed: int, workers: int) -> dict[str, Any]:
    """Run `n` dialogues end to end on the simulator; return the audit and timings."""
    from asyncgen.dedup import create_gate
    from asyncgen.dialogue import DialoguePipeline
    from asyncgen.dialogue.audit import audit_run
    from asyncgen.dialogue.synthetic import write_multiwoz
    from asyncgen.engine import RunOptions, run_generation
    from asyncgen.llm import Transport
    from asyncgen.sim.embedded import start_simulator

    with tempfile.TemporaryDirectory() as tmp:
        dataset = write_multiwoz(Path(tmp) / "mwoz.parquet", int(n * 1.25) + 50, seed=seed)
        config = _e2e_config(n, seed, workers, dataset)
        run_dir = Path(tmp) / "run"
        async with start_simulator(malformed_rate=malformed_rate, seed=seed) as sim:
            transport = Transport.from_settings(
                config.llm, api_key=sim.api_key, base_url=sim.base_url
            )
            async with transport:
                started = time.perf_counter()
                summary = await run_generation(
                    config,
                    DialoguePipeline(config),
                    run_dir=run_dir,
                    client=transport,
                    gate=create_gate(config, run_dir),
                    options=RunOptions(quiet=True, is_simulated=True),
                )
                wall = time.perf_counter() - started
                stats = transport.stats.snapshot()
        audit = audit_run(run_dir)
        return {"audit": audit, "summary": summary, "wall": wall, "stats": stats, "config": config}


def _e2e_config(n: int, seed: int, workers: int, dataset: Path) -> RunConfig:
    return load_config(
        overrides={
            "engine.n": n,
            "engine.seed": seed,
            "engine.max_workers": workers,
            "engine.pipeline": "dialogue",
            "llm.provider": "simulator",
            "llm.model": "sim-model",
            "dialogue.dataset_path": str(dataset),
            "dialogue.retry_backoff": 0.0,
        },
        environ={},
        env_file=None,
    )


def report_e2e(result: dict[str, Any]) -> None:
    """Print the end-to-end run's figures."""
    audit, summary, stats = result["audit"], result["summary"], result["stats"]
    settings = result["config"].dialogue
    print_table("services (end to end)", audit.service_mix, SERVICE_WEIGHTS)
    print_table("resolution (end to end)", audit.resolution_mix, RESOLUTION_STATUSES)
    data = summary.to_dict() if hasattr(summary, "to_dict") else vars(summary)
    print(f"\nrecords {audit.records}  max mix gap {audit.max_mix_error(settings):.2f} pt")
    print(f"turns outside range {audit.out_of_range}  reused base dialogues {audit.reused_bases}")
    print(f"emotion mismatches {audit.bad_emotions}  duplicate ids {audit.duplicate_ids}")
    print(f"mean turns {audit.mean_turns}")
    for key in ("failed", "rejected", "dedup_rejects", "failure_reasons", "status"):
        if key in data:
            print(f"{key}: {data[key]}")
    print(f"requests {stats['requests']}  wall {result['wall']:.1f} s  ")
    print(f"dialogues/s {audit.records / result['wall']:.1f}")


def main() -> None:
    """Parse options, run the checks, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=int, default=5000, help="planned items to check")
    parser.add_argument("--fail-rate", type=float, default=0.15)
    parser.add_argument("--e2e", type=int, default=0, help="dialogues to run end to end")
    parser.add_argument("--malformed-rate", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.plan:
        services, statuses, used = plan_mix(args.plan, args.fail_rate, args.seed)
        print(f"plan: {args.plan} successes from {used} items (fail rate {args.fail_rate})")
        print_table("services (plan)", _pct(services), SERVICE_WEIGHTS)
        print_table("resolution (plan)", _pct(statuses), RESOLUTION_STATUSES)
    if args.e2e:
        report_e2e(asyncio.run(e2e(args.e2e, args.malformed_rate, args.seed, args.workers)))


if __name__ == "__main__":
    main()
