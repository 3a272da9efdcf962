"""Fail fast on the endpoint: the key's shape, then one probe; one line, exit 2, within 5 s."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_support import cli, subprocess_env

from asyncgen.engine.probe import Target, check_api_key, explain_connect_error, probe
from asyncgen.errors import ConfigError


def _target(url: str, key: str | None = None) -> Target:
    return Target(url, "OPENAI_API_KEY", key, "--base-url / llm.base_url")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("sk-…", "placeholder"),
        ("sk-...", "placeholder"),
        ("sk-abc\n", "trailing newline"),
        (" sk-abc", "leading/trailing spaces"),
        ("sk-a bc", "whitespace inside"),
        ("sk-abc\u201d", "non-ASCII character at position 7"),
    ],
)
def test_keys_that_cannot_be_right_are_refused_without_echoing_them(
    key: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        check_api_key(key, "OPENAI_API_KEY")
    assert "OPENAI_API_KEY" in str(caught.value)
    assert "abc" not in str(caught.value)


def test_probe_names_what_to_fix(sim_factory: Callable[..., Any], silent_port: int) -> None:
    """401, refused, TLS to a plain server, silence: one message each, within the budget."""
    sim = sim_factory(api_key="right")

    def fails(target: Target, seconds: float = 5.0) -> str:
        started = time.monotonic()
        with pytest.raises(ConfigError) as caught:
            asyncio.run(probe(target, seconds=seconds))
        assert time.monotonic() - started < seconds + 1
        return str(caught.value)

    assert "rejected the key in OPENAI_API_KEY (401)" in fails(_target(sim.base_url, "wrong"))
    assert "OPENAI_API_KEY is unset" in fails(_target(sim.base_url))
    refused = f"http://127.0.0.1:{_free_port()}/v1"
    assert f"connection refused by {refused}" in fails(_target(refused))
    tls = sim.base_url.replace("http://", "https://")
    assert "TLS handshake" in fails(_target(tls)) and "http vs https" in fails(_target(tls))
    silent = f"http://127.0.0.1:{silent_port}/v1"
    assert f"no answer from {silent} within" in fails(_target(silent), seconds=0.5)
    asyncio.run(probe(_target(sim.base_url, "right")))  # a good key passes


def test_unknown_host_and_tls_causes_are_recognised() -> None:
    """The cause is found anywhere in the exception chain (no network needed)."""
    target = _target("https://nosuch.invalid/v1")
    dns = httpx.ConnectError("boom")
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert "cannot resolve host 'nosuch.invalid'" in explain_connect_error(dns, target)
    bad_cert = httpx.ConnectError("boom")
    bad_cert.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    assert "SSL_CERT_FILE" in explain_connect_error(bad_cert, target)


def test_generate_with_a_wrong_key_stops_in_one_line_before_writing(
    tmp_path: Path, sim_factory: Callable[..., Any]
) -> None:
    sim = sim_factory(api_key="right")
    out = tmp_path / "run"
    started = time.monotonic()
    done = subprocess.run(
        cli("generate", "--n", "3", "--out", str(out), "--base-url", sim.base_url),
        env=subprocess_env(OPENAI_API_KEY="wrong"),
        capture_output=True,
        timeout=60,
    )
    assert time.monotonic() - started < 5
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "set OPENAI_API_KEY to a valid key" in lines[0], lines
    assert not out.exists()
    assert sim.stats()["requests"] == 0


def test_the_probe_and_the_transport_load_the_ca_certificates_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An https run's probe and transport share one client TLS context: the system's CA
    certificates (~20 ms of CPU) load once per process, not once each before the first
    request."""
    from asyncgen.config import load_config
    from asyncgen.engine.probe import preflight
    from asyncgen.llm import Transport, http1

    made: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    monkeypatch.setattr(http1, "_tls_context", None)
    key = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    url = f"https://127.0.0.1:{_free_port()}/v1"  # nothing listens: the probe is refused
    config = load_config(None, {"llm.base_url": url, "llm.model": "m"}, env_file=None)
    with pytest.raises(ConfigError, match="refused|connect"):
        preflight(config)
    assert len(made) == 1  # the probe's

    async def start_transport() -> None:
        async with Transport.from_settings(config.llm, api_key=key, base_url=url):
            pass

    asyncio.run(start_transport())
    assert len(made) == 1
