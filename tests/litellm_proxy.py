"""A real LiteLLM proxy (`litellm --config`) on 127.0.0.1 in front of a local endpoint.

Started so it reaches nothing beyond loopback: the bundled model cost map
(``LITELLM_LOCAL_MODEL_COST_MAP=True``), telemetry off, no proxy variables, its own port.
One deployment with an `rpm` below the upstream's: the limit LiteLLM's router enforces
with 429s, which asyncgen must find and hold (its `x-ratelimit-*` are the upstream's).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

CONFIG = """\
model_list:
  - model_name: sim-model
    litellm_params:
      model: openai/sim-model
      api_base: {upstream}
      api_key: sk-upstream-000
      rpm: {rpm}
router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 0
general_settings:
  master_key: {master_key}
  forward_client_headers_to_llm_api: true
litellm_settings:
  telemetry: false
  num_retries: 0
  request_timeout: 60
"""


def litellm_command() -> list[str] | None:
    """The `litellm` CLI next to this interpreter (or on PATH), or None when not installed."""
    beside = Path(sys.executable).with_name("litellm")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("litellm")
    return [found] if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiteLLMProxy:
    """``with LiteLLMProxy(upstream_url, rpm=3000) as proxy:``; ``proxy.base_url`` ends in /v1."""

    def __init__(self, upstream: str, *, rpm: int, startup_timeout: float = 90.0) -> None:
        self.upstream = upstream
        self.rpm = rpm
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.api_key = f"sk-{secrets.token_hex(32)}"  # the proxy's master key: send it
        self._timeout = startup_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="asyncgen-litellm-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LiteLLMProxy:
        command = litellm_command()
        if command is None:
            raise RuntimeError("litellm is not installed: pip install 'litellm[proxy]'")
        config = self._dir / "config.yaml"
        config.write_text(
            CONFIG.format(upstream=self.upstream, rpm=self.rpm, master_key=self.api_key)
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.lower().endswith("_proxy") and not k.endswith("_API_KEY")
        }
        env.update(
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_TELEMETRY="False",
            LITELLM_LOG="ERROR",
            NO_PROXY="*",
            HOME=str(self._dir),
        )
        with (self._dir / "litellm.log").open("wb") as log:
            self._proc = self._start(command, config, env, log)
        self._wait_ready()
        return self

    def _start(
        self, command: list[str], config: Path, env: dict[str, str], log: Any
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*command, "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._dir,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._timeout
        url = f"http://127.0.0.1:{self.port}/health/liveliness"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"litellm exited at start: {self.log_tail()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"litellm not ready after {self._timeout} s: {self.log_tail()}")

    def log_tail(self, size: int = 2000) -> str:
        """The end of the proxy's log (for failure messages)."""
        path = self._dir / "litellm.log"
        return path.read_bytes()[-size:].decode("utf-8", "replace") if path.exists() else ""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)
