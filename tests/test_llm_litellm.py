"""asyncgen through a real LiteLLM proxy: the proxy's limit is the one held, nothing fails.

The proxy (`litellm --config`, loopback only, see `litellm_proxy`) sits in front of two
simulators, one deployment each with an rpm a twentieth of the simulator's: `complete`
runs through one, `generate` through the other, at the same time. The answers carry the
simulator's `x-ratelimit-*` passed through (and `llm_provider-` copies): asyncgen must
not take them for its limit, must learn the proxy's from its 429s (no limit header, only
`llm_provider-retry-after: 60`; the limit and its use are in the message), and must end
every item as a result. LiteLLM counts
each deployment's requests per UTC minute, so the rate is read per whole minute from
what reached each simulator: each run spans a first minute in which the proxy refuses it
(the client learns), then at least one whole minute with work left (the rate it settled
at), then a tail. About 1.5-2.5 minutes, most of it the proxy's minute windows.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_support import cli, subprocess_env
from litellm_proxy import Deployment, LiteLLMProxy, ProxyMinutes, litellm_command

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.slow,
    pytest.mark.skipif(litellm_command() is None, reason="litellm[proxy] is not installed"),
]

PROXY_RPM = 60  # per deployment; LiteLLM admits PROXY_RPM - 1 in each UTC minute
ADMITTED = PROXY_RPM - 1
TAIL = 20  # requests after a minute that make it one the client had work all through
ITEMS = 2 * ADMITTED + TAIL + 5  # a first (partial) minute, a whole one, and a tail
RECORDS = 24  # `generate` records: 147 requests (6.1 each), a few more than ITEMS; fewer
# than three windows hold, so a first window the client did not fill costs no fourth minute
FIRST_MINUTE = 15.0  # seconds the first window needs to close on a client (starts included)


def start(args: list[str], key: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cli(*args), env=subprocess_env(OPENAI_API_KEY=key), stdout=out, stderr=out
        )


def finish(proc: subprocess.Popen[bytes], log: Path, proxy: LiteLLMProxy) -> None:
    code = proc.wait(timeout=280)
    assert code == 0, (log.read_bytes()[-2000:], proxy.log_tail())


def last_transport(run_dir: Path) -> dict[str, Any]:
    metrics = (run_dir / "metrics.jsonl").read_bytes().splitlines()
    last = orjson.loads(metrics[-1])
    transport: dict[str, Any] = last.get("transport", last)
    return transport


def test_complete_and_generate_hold_the_proxys_limit(
    tmp_path: Path, sim_factory: Callable[..., Any]
) -> None:
    sims = [
        sim_factory(profile="openai", rpm=PROXY_RPM * 20, latency_median=0.05, seed=seed)
        for seed in (5, 6)
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b"".join(
            orjson.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"q{i}"}]})
            + b"\n"
            for i in range(ITEMS)
        )
    )
    extra = [Deployment("sim-gen", sims[1].base_url, PROXY_RPM)]
    with LiteLLMProxy(sims[0].base_url, rpm=PROXY_RPM, extra=extra) as proxy:
        with ProxyMinutes(*sims, margin=TAIL) as minutes:
            left = 60.0 - time.time() % 60.0
            if left < FIRST_MINUTE:  # too short a first window: the whole next one is first
                time.sleep(left + 0.5)
            done = start(
                ["complete", "--input", str(source), "--output", str(tmp_path / "r.jsonl"),
                 "--base-url", proxy.base_url, "--model", "sim-model", "--concurrency", "16",
                 "--quiet"],
                proxy.api_key, tmp_path / "complete.log",
            )  # fmt: skip
            generated = start(
                ["generate", "--n", str(RECORDS), "--out", str(tmp_path / "gen"),
                 "--base-url", proxy.base_url, "--model", "sim-gen", "--quiet"],
                proxy.api_key, tmp_path / "generate.log",
            )  # fmt: skip
            finish(done, tmp_path / "complete.log", proxy)
            finish(generated, tmp_path / "generate.log", proxy)

    results = (tmp_path / "r.jsonl").read_bytes().splitlines()
    failures = tmp_path / "r.failures.jsonl"
    assert len(results) == ITEMS and (not failures.exists() or not failures.read_bytes().strip())
    for run_dir, target in ((tmp_path / "r.run", ITEMS), (tmp_path / "gen", RECORDS)):
        summary = orjson.loads((run_dir / "summary.json").read_bytes())
        assert summary["failed"] == 0 and summary["done"] == target, summary
        assert summary["rate_limited"] > 0  # the proxy's limit was met, and held by retrying
        # the proxy's limit, as its 429s state it (it admits rpm - 1 a minute), was learned;
        # not the upstream's 1,200 RPM it passes through
        assert last_transport(run_dir).get("rpm_limit") == ADMITTED
    for index, name in enumerate(("complete", "generate")):
        whole = minutes.whole_minutes(index)
        # the rate settles at the proxy's limit: every whole minute with work left is full
        assert whole, (name, minutes.samples, minutes.totals)
        assert all(0.9 * ADMITTED <= count <= PROXY_RPM for count in whole), (name, whole)
