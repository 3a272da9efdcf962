"""`asyncgen sim serve` as a user runs it: a real process, flags, one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import openai
import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncgen", "sim", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--rpm", "-1"], "sim.rpm"),
        (["--overload", "maybe"], "sim.overload"),
        (["--fault-500", "2"], "sim.faults.error_500"),
        (["--latency-median", "-0.5"], "sim.latency_median"),
        (["--limiter", "leaky"], "sim.limiter"),
        (["--limiter", "concurrency", "--rpm", "60"], "sim.rpm"),
        (["--fault", "nope=0.1"], "sim.faults.nope"),
        (["--fault", "stream_cut"], "--fault"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], key: str) -> None:
    """A bad flag value prints one line naming the key, and exits 2."""
    result = _run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0]


def test_serve_prints_ready_line_and_answers_the_sdk() -> None:
    """`asyncgen sim serve --port 0 --api-key k --rpm 600` serves the SDK until SIGTERM."""
    with subprocess.Popen(
        [sys.executable, "-m", "asyncgen", "sim", "serve", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        _talk_then_stop(proc)


def _talk_then_stop(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("asyncgen-sim listening on http://127.0.0.1:")
        base = line.split(" on ")[1].strip() + "/v1"
        client = openai.OpenAI(base_url=base, api_key="k", max_retries=0)
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello"}]
        )
        assert reply.choices[0].message.content
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_port_in_use_is_one_line_exit_2() -> None:
    """Serving on a port that is taken says so in one line and exits 2."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _run("--port", str(taken.getsockname()[1]))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot listen" in lines[0]
