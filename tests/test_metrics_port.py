"""--metrics-port: Prometheus metrics scraped from a real run while it works."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
from engine_support import cli, subprocess_env
from prometheus_client.parser import text_string_to_metric_families

CONFIG = """
sim:
  latency_median: 0.05
engine:
  max_workers: 4
  metrics_interval: 0.5
dedup:
  enabled: false
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_served_on_loopback_during_a_run(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out, port = tmp_path / "run", _free_port()
    proc = subprocess.Popen(
        cli(
            "generate",
            "--pipeline",
            "engine_support:EchoPipeline",
            "--n",
            "300",
            "--out",
            str(out),
            "--config",
            str(config),
            "--quiet",
            "--metrics-port",
            str(port),
        ),  # fmt: skip
        env=subprocess_env(),
        stderr=subprocess.PIPE,
    )
    try:
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                seen = _scrape(port)
            except OSError:
                time.sleep(0.1)
                continue
            if seen.get(("asyncgen_records", (("state", "done"),)), 0) >= 20:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it was scraped mid-way"
        done = seen[("asyncgen_records", (("state", "done"),))]
        assert 20 <= done < 300
        assert seen[("asyncgen_requests_total", (("outcome", "ok"),))] >= done
        assert seen[("asyncgen_tokens_total", (("kind", "input"),))] > 0
        assert ("asyncgen_limit", (("limit", "concurrency_cap"),)) in seen
        assert ("asyncgen_loop_lag_p99_seconds", ()) in seen
        assert seen[("asyncgen_target", ())] == 300
        with socket.socket() as probe:  # loopback only
            probe.settimeout(1)
            outside = socket.gethostbyname(socket.gethostname())
            if not outside.startswith("127."):
                assert probe.connect_ex((outside, port)) != 0
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["done"] == 300
