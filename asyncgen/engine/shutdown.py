"""Ctrl-C and SIGTERM: the first stops new work and drains; the second stops at once."""

from __future__ import annotations

import asyncio
import logging
import signal

logger = logging.getLogger("asyncgen.engine")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Shutdown:
    """Two events: `stopping` (take no new items, let in-flight finish) and `forced`."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.forced = asyncio.Event()
        self.requests = 0
        self.reason: str | None = None
        self._installed: list[signal.Signals] = []

    @property
    def is_stopping(self) -> bool:
        """True once a stop was requested."""
        return self.stopping.is_set()

    def request(self, reason: str = "stop requested") -> None:
        """First call: stop taking items; any later call: stop in-flight work too."""
        self.requests += 1
        if self.requests == 1:
            self.reason = reason
            self.stopping.set()
            logger.warning("%s: finishing in-flight items (again to stop at once)", reason)
        else:
            self.forced.set()
            logger.warning("%s again: stopping in-flight items now", reason)

    def install(self) -> None:
        """Route SIGINT and SIGTERM of this process to `request` (on the running loop)."""
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            try:
                loop.add_signal_handler(sig, self.request, f"{sig.name} received")
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._installed.append(sig)

    def uninstall(self) -> None:
        """Give the signals back to their default handlers."""
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()
