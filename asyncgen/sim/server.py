"""Run the simulator on uvicorn (httptools + uvloop) and announce where it listens.

The server binds its own socket (port 0 = a free port), then prints one ready line on
stdout, ``asyncgen-sim listening on http://HOST:PORT``, which the embedded launcher reads.
Launched as a child, it also watches its parent: when the parent process is gone (even
after a SIGKILL) the server shuts itself down, so no simulator outlives its user.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from asyncgen.config.sim import SimSettings
from asyncgen.errors import ConfigError
from asyncgen.sim.app import TRANSPORT_SCOPE_KEY, SimApp

__all__ = ["READY_PREFIX", "SimHttpProtocol", "bind_socket", "serve"]

READY_PREFIX = "asyncgen-sim listening on "
PARENT_POLL_SECONDS = 0.5
GRACEFUL_SHUTDOWN_SECONDS = 2


class SimHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that hands the app its transport (to drop connections)."""

    def on_headers_complete(self) -> None:
        """Expose the transport in the request scope before the app task runs."""
        super().on_headers_complete()
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        scope[TRANSPORT_SCOPE_KEY] = self.transport


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on (host, port); port 0 picks a free one.

    Raises:
        ConfigError: the address cannot be used (in use, not local, not resolvable).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise ConfigError(f"sim.host/sim.port: cannot listen on {host}:{port}: {reason}") from exc
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: SimApp, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="uvloop",
        http=SimHttpProtocol,
        lifespan="off",
        access_log=False,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,
        backlog=4096,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def serve(
    settings: SimSettings, *, parent_pid: int | None = None, log_level: str = "warning"
) -> None:
    """Serve until SIGINT/SIGTERM (or until `parent_pid` is gone); print the ready line."""
    sock = bind_socket(settings.host, settings.port)
    app = SimApp(settings)
    server = uvicorn.Server(_uvicorn_config(app, log_level))
    import uvloop

    with _signals_wait_for_cleanup(server):
        uvloop.run(_serve(server, sock, parent_pid, app))


@contextlib.contextmanager
def _signals_wait_for_cleanup(server: uvicorn.Server) -> Iterator[None]:
    """SIGTERM/SIGINT stop the server, and the process ends by that signal only after the
    batch files are removed.

    uvicorn raises the signal that stopped it again once it has shut down; under the
    default handlers the process died right there, before `SimApp.aclose` (every stopped
    simulator left its file store in the temporary directory). Until the simulator has
    cleaned up, these signals only ask the server to exit; the first is raised again at
    the end, under the handler found before, so the exit status is what it was.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def note(sig: int, frame: FrameType | None) -> None:
        caught.append(sig)
        server.should_exit = True

    found = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in found.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


async def _serve(
    server: uvicorn.Server, sock: socket.socket, parent_pid: int | None, app: SimApp
) -> None:
    try:
        await _serve_until_stopped(server, sock, parent_pid)
    finally:  # SIGTERM, SIGINT or the parent gone (a SIGKILL: the next simulator sweeps)
        await app.aclose()


async def _serve_until_stopped(
    server: uvicorn.Server, sock: socket.socket, parent_pid: int | None
) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    print(f"{READY_PREFIX}http://{_url_host(host)}:{port}", flush=True)  # noqa: T201 - the ready line
    watchdog = asyncio.create_task(_watch_parent(server, parent_pid)) if parent_pid else None
    try:
        await task
    finally:
        if watchdog is not None:
            watchdog.cancel()


async def _watch_parent(server: uvicorn.Server, parent_pid: int) -> None:
    """Shut the server down when the launching process has died (we were re-parented)."""
    while True:
        await asyncio.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent_pid:
            server.should_exit = True
            return


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def set_parent_death_signal() -> None:
    """Linux: ask the kernel to SIGTERM us when the parent dies (best effort elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc: Any = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except OSError:
        return
