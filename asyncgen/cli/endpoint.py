"""Pick the endpoint a command talks to: a configured provider, a --base-url, or the simulator.

With no API key and no base URL, asyncgen starts its built-in simulator in a child
process and says so in one line; everything made that way is marked simulated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console

from asyncgen.config import RunConfig, resolve_api_key

if TYPE_CHECKING:
    from asyncgen.llm import Transport


@dataclass
class Endpoint:
    """The transport to use, and whether its answers come from the simulator."""

    client: Transport
    is_simulated: bool
    base_url: str | None


@asynccontextmanager
async def open_endpoint(
    config: RunConfig, *, base_url: str | None = None, console: Console | None = None
) -> AsyncIterator[Endpoint]:
    """Yield a ready transport; stop the embedded simulator (if any) on exit."""
    from asyncgen.llm import Transport
    from asyncgen.sim.embedded import start_simulator

    llm = config.llm
    key = resolve_api_key(llm)
    url = base_url or llm.base_url
    async with AsyncExitStack() as stack:
        is_simulated = url is None and key is None
        if is_simulated:
            sim = await stack.enter_async_context(start_simulator(config.sim))
            url, key = sim.base_url, sim.api_key
            llm = llm.model_copy(update={"provider": "simulator"})
            config.llm = llm
            (console or Console(stderr=True)).print(
                f"No API key and no --base-url: using the built-in simulator at {url}; "
                "output is simulated (records are marked simulated: true)."
            )
        transport = Transport.from_settings(llm, api_key=key, base_url=url)
        stack.push_async_callback(transport.aclose)
        yield Endpoint(client=transport, is_simulated=is_simulated, base_url=url)


@asynccontextmanager
async def open_client(
    config: RunConfig, *, base_url: str | None = None, console: Console | None = None
) -> AsyncIterator[Transport]:
    """Like `open_endpoint`, yielding only the transport."""
    async with open_endpoint(config, base_url=base_url, console=console) as endpoint:
        yield endpoint.client
