"""A real LiteLLM proxy (`litellm --config`) on 127.0.0.1 in front of a local endpoint.

Started so it reaches nothing beyond loopback: the bundled model cost map
(``LITELLM_LOCAL_MODEL_COST_MAP=True``), telemetry off, no proxy variables, its own port.
One deployment with an `rpm` below the upstream's: the limit LiteLLM's router enforces
with 429s, which asyncgen must find and hold (its `x-ratelimit-*` are the upstream's).
LiteLLM 1.108's usage-based-routing-v2 counts each deployment's requests per UTC minute
(`%H-%M` keys): a fixed one-minute window that admits `rpm - 1` requests (its selection
skips a deployment at `count + 1 >= rpm`), then answers 429 with only
`llm_provider-retry-after: 60` until the minute turns. `open_model`, when given, adds a
deployment of the same upstream without an rpm: what the proxy process itself carries;
`extra` adds deployments of other upstreams (each its own limit, counted apart).
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
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

CONFIG = """\
model_list:
{deployments}router_settings:
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

DEPLOYMENT = """\
  - model_name: {name}
    litellm_params:
      model: openai/sim-model
      api_base: {upstream}
      api_key: sk-upstream-000
"""


@dataclass(frozen=True)
class Deployment:
    """A model name the proxy serves from `upstream`, with LiteLLM's per-minute `rpm` (None:
    no limit but the proxy's own speed)."""

    name: str
    upstream: str
    rpm: int | None = None

    def yaml(self) -> str:
        """This deployment's `model_list` entry."""
        entry = DEPLOYMENT.format(name=self.name, upstream=self.upstream)
        return entry if self.rpm is None else f"{entry}      rpm: {self.rpm}\n"


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

    def __init__(
        self,
        upstream: str,
        *,
        rpm: int,
        open_model: str | None = None,
        extra: Sequence[Deployment] = (),
        startup_timeout: float = 90.0,
    ) -> None:
        """`sim-model` from `upstream` at `rpm`; `open_model` the same upstream without an
        rpm; `extra`: more deployments (another upstream, another limit)."""
        self.upstream = upstream
        self.rpm = rpm
        self.deployments = [Deployment("sim-model", upstream, rpm), *extra]
        if open_model:
            self.deployments.append(Deployment(open_model, upstream))
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
        deployments = "".join(d.yaml() for d in self.deployments)
        config.write_text(CONFIG.format(deployments=deployments, master_key=self.api_key))
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


class ProxyMinutes:
    """What reached each upstream in each whole UTC minute (LiteLLM's windows) of a run.

    What reaches an upstream is what the proxy admitted (its own 429s never get there). A
    thread reads each upstream's request counter (`stats()["requests"]`, the simulator's)
    just after every minute turns, from entering the block to leaving it. A minute counts
    toward a rate only when it began inside the block and at least `margin` requests
    reached that upstream after it ended: the client had work all minute, not only a tail.
    """

    def __init__(self, *upstreams: Any, margin: int) -> None:
        self.upstreams = upstreams
        self.margin = margin
        self.samples: list[list[int]] = []  # one list per turn of the minute
        self.totals: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProxyMinutes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self.totals = [self._requests(u) for u in self.upstreams]

    def _run(self) -> None:
        while not self._stop.wait(60.0 - time.time() % 60.0 + 0.25):
            self.samples.append([self._requests(u) for u in self.upstreams])

    @staticmethod
    def _requests(upstream: Any) -> int:
        try:
            return int(upstream.stats().get("requests", 0))
        except httpx.HTTPError:
            return -1  # a missed reading: the minutes around it are not counted

    def whole_minutes(self, index: int = 0) -> list[int]:
        """Requests upstream `index` received in each whole minute the client had work."""
        counts = [sample[index] for sample in self.samples]
        last = self.totals[index] - self.margin if self.totals else -1
        return [
            end - begin
            for begin, end in zip(counts, counts[1:], strict=False)
            if begin >= 0 and 0 <= end <= last
        ]
