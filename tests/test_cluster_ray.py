"""One run across a local Ray cluster on loopback: the limit, the dataset, the kills.

One cluster for the module (started with `--ray local`'s own code, so the loopback
check covers what the CLI starts); each run is a real `asyncgen generate --ray ADDRESS`
driver in a subprocess, against a simulator child process on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from engine_support import cli, subprocess_env

ray = pytest.importorskip("ray")  # imported before the loopback settings, on purpose
pytestmark = pytest.mark.slow

LIMIT_RPM = 12_000
CONFIG = """
llm:
  model: sim-model
  retry:
    backoff_initial: 0.05
engine:
  max_workers: 64
  metrics_interval: 0.5
  grace_period: 5.0
dialogue:
  retry_backoff: 0.0
report:
  refresh_during_run: false
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A loopback cluster started as `--ray local` starts one; its GCS address."""
    from asyncgen.cluster.connect import connect

    handle = connect("local", num_cpus=4)
    yield handle.address
    handle.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough distinct MultiWOZ-shaped base dialogues for every run of the module."""
    from asyncgen.dialogue.synthetic import write_multiwoz

    return write_multiwoz(tmp_path_factory.mktemp("data") / "mw.jsonl", 1500, seed=7)


def generate(
    cluster: str, out: Path, n: int, base_url: str, dataset: Path, config: Path
) -> list[str]:
    return cli(
        "generate", "--pipeline", "dialogue", "--n", str(n), "--out", str(out),
        "--ray", cluster, "--ray-workers", "2", "--base-url", base_url,
        "--dataset-path", str(dataset), "--config", str(config), "--quiet",
    )  # fmt: skip


def records(out: Path) -> list[dict[str, Any]]:
    path = out / "records.jsonl"
    if not path.exists():
        return []
    data = path.read_bytes()
    return [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def assert_exact_and_unique(out: Path, n: int) -> dict[str, Any]:
    """n records, unique ids, the summary adds up, no two within the run's dedup bar."""
    from asyncgen.cli.launch import config_from_snapshot
    from asyncgen.dedup import effective_threshold, load_embedder, record_text, settings_for

    rows = records(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == n and len(set(ids)) == n
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["status"] == "complete" and summary["done"] == n
    settings = settings_for(config_from_snapshot(out, None, {}))
    texts = [record_text(r, settings) or "" for r in rows]
    assert len({" ".join(t.lower().split()) for t in texts}) == n
    vectors = np.asarray(load_embedder(settings).encode(texts), dtype=np.float32)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    assert float(similarity.max()) < effective_threshold(settings, settings.embedder)
    return dict(summary)


def worker_pids(out: Path, timeout: float = 60.0) -> list[int]:
    """The worker processes the driver logged once they had started."""
    deadline = time.monotonic() + timeout
    log = out / "asyncgen.log"
    while time.monotonic() < deadline:
        if log.exists():
            pids = re.findall(r"ray worker \d+: pid (\d+)", log.read_text(encoding="utf-8"))
            if len(pids) == 2:
                return [int(p) for p in pids]
        time.sleep(0.1)
    raise AssertionError("the workers did not start")


def wait_for_records(out: Path, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while len(records(out)) < count and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def listening_sockets(pids: set[int]) -> list[str]:
    """Local addresses of every TCP socket in LISTEN state held by one of `pids`."""
    inodes: dict[str, int] = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            links = [os.readlink(fd) for fd in fd_dir.iterdir()]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:["):
                inodes[link[8:-1]] = pid
    found: list[str] = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            host_hex = fields[1].split(":")[0]
            assert len(host_hex) == width
            found.append(_address(host_hex))
    return found


def _address(host_hex: str) -> str:
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    flat = b"".join(words)
    if flat[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in flat[12:])
    return ":".join(flat[i : i + 2].hex() for i in range(0, 16, 2))


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def test_local_cluster_listens_on_loopback_only(cluster: str) -> None:
    """Every socket the cluster's processes listen on is bound to 127.0.0.1."""

    @ray.remote(num_cpus=0)
    def pid() -> int:
        return os.getpid()

    assert ray.get(pid.remote()) in descendants(os.getpid())  # workers are ours
    assert cluster.startswith("127.0.0.1:")
    addresses = listening_sockets(descendants(os.getpid()))
    assert len(addresses) >= 3  # GCS, raylet, this driver's core worker at least
    assert set(addresses) <= {"127.0.0.1", "::ffff:127.0.0.1"}, addresses


def test_two_workers_hold_12000_rpm_with_exactly_n_unique(
    cluster: str, dataset: Path, tmp_path: Path, sim_factory: Any
) -> None:
    """Two workers, one simulator at 12,000 RPM: >= 95 % of the limit, <= 2 % 429s."""
    sim = sim_factory(rpm=LIMIT_RPM, latency_median=0.03, latency_sigma=0.3, duplicate_rate=0.02)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out, n = tmp_path / "run", 600
    proc = subprocess.Popen(
        generate(cluster, out, n, sim.base_url, dataset, config),
        env=subprocess_env(),
        stderr=subprocess.PIPE,
    )
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        samples.append((time.monotonic(), int(sim.stats()["completions"])))
        time.sleep(0.25)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    summary = assert_exact_and_unique(out, n)
    stats = sim.stats()
    assert stats["rate_limited"] <= 0.02 * stats["requests"], stats
    rate = steady_rate(samples)
    assert rate >= 0.95 * LIMIT_RPM / 60, (rate, summary)
    log = (out / "asyncgen.log").read_text(encoding="utf-8")
    shares = [int(k) for k in re.findall(r"ray worker \d+: (\d+) items in", log)]
    assert len(shares) == 2 and min(shares) >= 0.25 * n, shares  # both workers worked


def steady_rate(samples: list[tuple[float, int]]) -> float:
    """Completions per second between the first and last quarter of the busy period (the
    first second's burst and the last items' tail left out)."""
    busy = [(t, c) for t, c in samples if c > 0]
    last = max(c for _, c in busy)
    busy = [(t, c) for t, c in busy if c < last]
    start, end = busy[len(busy) // 4], busy[-1 - len(busy) // 4]
    return (end[1] - start[1]) / (end[0] - start[0])


def test_worker_killed_mid_run_still_exactly_n_unique(
    cluster: str, dataset: Path, tmp_path: Path, sim_factory: Any
) -> None:
    """SIGKILL one worker mid-run: its unfinished items run on the other, none twice."""
    sim = sim_factory(latency_median=0.05, latency_sigma=0.3, duplicate_rate=0.05)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out, n = tmp_path / "run", 400
    proc = subprocess.Popen(
        generate(cluster, out, n, sim.base_url, dataset, config),
        env=subprocess_env(),
        stderr=subprocess.PIPE,
    )
    victim = worker_pids(out)[0]
    wait_for_records(out, 60, proc)
    assert proc.poll() is None and len(records(out)) < n
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err.decode()[-2000:]
    summary = assert_exact_and_unique(out, n)
    assert summary["dedup_rejects"] > 0  # the uniqueness check above had work to do
    log = (out / "asyncgen.log").read_text(encoding="utf-8")
    assert f"worker 0 (pid {victim}) is gone" in log
    assert "unfinished items go to other workers" in log


def test_driver_killed_then_resume_gives_exactly_n(
    cluster: str, dataset: Path, tmp_path: Path, sim_factory: Any
) -> None:
    """SIGKILL the driver mid-run; `--resume` finishes the same run with exactly n."""
    sim = sim_factory(latency_median=0.05, latency_sigma=0.3, duplicate_rate=0.05)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out, n = tmp_path / "run", 300
    proc = subprocess.Popen(
        generate(cluster, out, n, sim.base_url, dataset, config),
        env=subprocess_env(),
        stderr=subprocess.DEVNULL,
    )
    wait_for_records(out, n // 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert 0 < len(records(out)) < n
    done = subprocess.run(
        cli("generate", "--resume", str(out), "--quiet"),
        env=subprocess_env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    summary = assert_exact_and_unique(out, n)
    assert summary["done_before"] > 0


def test_complete_on_the_cluster_gives_every_result_once(
    cluster: str, tmp_path: Path, sim_factory: Any
) -> None:
    """`complete --ray`: every input id gets exactly one result, beside a run directory."""
    sim = sim_factory(latency_median=0.02)
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        "".join(
            orjson.dumps(
                {"id": f"q{i}", "messages": [{"role": "user", "content": f"q {i}"}]}
            ).decode()
            + "\n"
            for i in range(300)
        )
    )
    output = tmp_path / "out.jsonl"
    done = subprocess.run(
        cli(
            "complete",
            "--input",
            str(requests),
            "--output",
            str(output),
            "--base-url",
            sim.base_url,
            "--model",
            "sim-model",
            "--ray",
            cluster,
            "--ray-workers",
            "2",
            "--quiet",
        ),  # fmt: skip
        env=subprocess_env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    ids = [orjson.loads(line)["id"] for line in output.read_bytes().splitlines()]
    assert sorted(ids) == sorted(f"q{i}" for i in range(300))
    summary = orjson.loads((tmp_path / "out.run" / "summary.json").read_bytes())
    assert summary["status"] == "complete" and summary["requests"] >= 300
    assert sim.stats()["completions"] >= 300


def test_workers_that_cannot_be_placed_stop_the_run_with_one_line(
    cluster: str, tmp_path: Path, sim_factory: Any
) -> None:
    """More worker CPUs than the cluster has: a clear error after start_timeout, exit 2."""
    sim = sim_factory()
    config = tmp_path / "c.yaml"
    ray = "engine:\n  ray:\n    worker_cpus: 3\n    start_timeout: 2\n"
    config.write_text(CONFIG.replace("engine:\n", ray))
    result = subprocess.run(
        cli(
            "generate",
            "--pipeline",
            "dialogue",
            "--n",
            "5",
            "--out",
            str(tmp_path / "r"),
            "--ray",
            cluster,
            "--ray-workers",
            "2",
            "--base-url",
            sim.base_url,
            "--config",
            str(config),
            "--quiet",
        ),  # fmt: skip
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "2 Ray workers were not running after 2 s" in errors[0]
    assert "need 6 free CPUs" in errors[0]
