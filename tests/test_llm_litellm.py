"""asyncgen through a real LiteLLM proxy: the proxy's limit is the one held, nothing fails.

The proxy (`litellm --config`, loopback only, see `litellm_proxy`) sits in front of the
simulator with a deployment rpm a twentieth of the simulator's. Its answers carry the
simulator's `x-ratelimit-*` passed through (and `llm_provider-` copies): asyncgen must not
take them for its limit, must find the proxy's from its 429s (which say only
`llm_provider-retry-after: 60`), and must end every item as a result.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_support import cli, subprocess_env
from litellm_proxy import LiteLLMProxy, litellm_command

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.slow,
    pytest.mark.skipif(litellm_command() is None, reason="litellm[proxy] is not installed"),
]

PROXY_RPM = 120


def run(args: list[str], key: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(OPENAI_API_KEY=key)
    return subprocess.run(cli(*args), env=env, capture_output=True, text=True, timeout=240)


def test_complete_and_generate_hold_the_proxys_limit(
    tmp_path: Path, sim_factory: Callable[..., Any]
) -> None:
    sim = sim_factory(profile="openai", rpm=PROXY_RPM * 20, latency_median=0.05, seed=5)
    n = PROXY_RPM + PROXY_RPM // 2  # more than one proxy minute holds
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b"".join(
            orjson.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"q{i}"}]})
            + b"\n"
            for i in range(n)
        )
    )
    with LiteLLMProxy(sim.base_url, rpm=PROXY_RPM) as proxy:
        generated = run(
            ["generate", "--n", "2", "--out", str(tmp_path / "gen"), "--base-url",
             proxy.base_url, "--model", "sim-model", "--quiet"],
            proxy.api_key,
        )  # fmt: skip
        assert generated.returncode == 0, (generated.stderr[-2000:], proxy.log_tail())
        done = run(
            ["complete", "--input", str(source), "--output", str(tmp_path / "r.jsonl"),
             "--base-url", proxy.base_url, "--model", "sim-model", "--concurrency", "16",
             "--quiet"],
            proxy.api_key,
        )  # fmt: skip
    assert done.returncode == 0, (done.stderr[-2000:], proxy.log_tail())
    results = (tmp_path / "r.jsonl").read_bytes().splitlines()
    failures = tmp_path / "r.failures.jsonl"
    assert len(results) == n and (not failures.exists() or not failures.read_bytes().strip())
    summary = orjson.loads((tmp_path / "r.run" / "summary.json").read_bytes())
    assert summary["failed"] == 0
    assert summary["rate_limited"] > 0  # the proxy's limit was met, and held by retrying
    metrics = (tmp_path / "r.run" / "metrics.jsonl").read_bytes().splitlines()
    last = orjson.loads(metrics[-1])
    transport = last.get("transport", last)
    assert transport.get("rpm_limit") is None  # the upstream's 2,400 RPM was not taken
    # what reached the simulator is what the proxy admitted: one answer per item
    assert sim.stats()["by_status"].get("200", 0) >= n
