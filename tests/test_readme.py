"""Every command in README.md's bash blocks runs as written (small n, against a simulator).

Placeholders are handled, nothing else is changed: the key placeholder becomes a
simulator's key (and `ASYNCGEN_LLM__BASE_URL` points the provider at it), the local
server URL and the ports become free loopback ones, `requests.jsonl` is written first,
`--n` is made small, benchmark steps, simulated batch rounds and batch polls short. `make …` and
`source …` are the only commands not run (they build the virtualenv and run this suite).
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import subprocess_env

README = Path(__file__).resolve().parent.parent / "README.md"
KEY = "sk-readme-test"
SMALL_N = "6"


def readme_commands(text: str) -> list[str]:
    """The logical command lines of the ```bash blocks (continuations joined)."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            full = (pending + line).strip()
            pending = ""
            if full and not full.startswith("#"):
                commands.append(full)
    return commands


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readme_lists_the_commands_we_expect() -> None:
    """The extraction itself: the main commands are found, placeholders included."""
    commands = readme_commands(README.read_text())
    joined = "\n".join(commands)
    for needle in ("make generate", "export OPENAI_API_KEY=sk-…", "--resume runs/night1",
                   "--pipeline dialogue", "asyncgen complete", "asyncgen sim serve",
                   "asyncgen bench find-limit", "asyncgen export", "asyncgen report",
                   "--estimate", "--metrics-port"):  # fmt: skip
        assert needle in joined, needle
    assert "multiwoz.parquet" not in joined


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_readme_command_runs(tmp_path: Path, sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(api_key=KEY, batch={"round_time": 0.3})
    env = subprocess_env(
        ASYNCGEN_BENCH__STEP_SECONDS="1",
        ASYNCGEN_BENCH__WARMUP_SECONDS="0.2",
        ASYNCGEN_BENCH__COOLDOWN_SECONDS="0",
        ASYNCGEN_BENCH__DRAIN_SECONDS="2",
        ASYNCGEN_BENCH__MAX_STEPS="4",
        ASYNCGEN_LLM__BATCH__POLL_INITIAL="0.2",
        ASYNCGEN_BENCH__PROBE_SECONDS="1",
        ASYNCGEN_BENCH__MEASURE_SECONDS="2",
        ASYNCGEN_BENCH__MIN_ADMITTED="20",
    )
    (tmp_path / "requests.jsonl").write_text(
        "".join(
            f'{{"id": {i}, "messages": [{{"role": "user", "content": "q{i}"}}]}}\n'
            for i in range(5)
        )  # fmt: skip
    )
    ports: dict[str, str] = {}
    background: list[subprocess.Popen[bytes]] = []
    ran = 0
    took: dict[str, float] = {}
    try:
        for command in readme_commands(README.read_text()):
            if command.startswith(("make ", "source ")):
                continue
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                assert value.split()[0] == "sk-…", command  # the only variable the README sets
                env[name] = KEY
                env["ASYNCGEN_LLM__BASE_URL"] = sim.base_url
                continue
            for port in ("8089", "9464"):  # ports the README picks: free ones here
                ports.setdefault(port, str(_free_port()))
                command = re.sub(rf"\b{port}\b", ports[port], command)
            command = command.replace("http://127.0.0.1:8000/v1", sim.base_url)
            command = re.sub(r"--n \d+", f"--n {SMALL_N}", command)
            is_background = command.rstrip().endswith("&")
            argv = shlex.split(command.rstrip(" &"), comments=True)
            assert argv[0] == "asyncgen", command
            argv = [sys.executable, "-m", "asyncgen", *argv[1:]]
            if is_background:
                background.append(
                    subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE)
                )
                assert background[-1].stdout is not None
                assert b"listening on" in background[-1].stdout.readline()
                continue
            started = time.monotonic()
            done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=300)
            assert done.returncode == 0, (command, done.stderr.decode()[-2000:])
            took[command] = time.monotonic() - started
            ran += 1
    finally:
        for proc in background:
            proc.terminate()
            proc.communicate(timeout=30)
    assert ran >= 10, took
    assert sum(took.values()) < 400, took
    assert (tmp_path / "runs" / "night1" / "report.html").is_file()
    assert (tmp_path / "results.jsonl").is_file()
