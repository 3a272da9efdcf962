"""Ray itself: import it (or say how to install it), start a loopback cluster, or join one.

`--ray local` starts a cluster for the run that listens on 127.0.0.1 only. Ray picks the
node address from the route to the outside world and turns 127.0.0.1 into that address
(`resolve_ip_for_localhost`); its single-machine mode (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`,
read when `ray` is imported) uses the loopback address instead, and every Ray server then
binds to it (GCS, raylet, object manager, workers, runtime-env agent). The dashboard is
off, usage stats are off, and metrics export is left unset.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from asyncgen.config import RunConfig
from asyncgen.errors import ConfigError

logger = logging.getLogger("asyncgen.cluster")

RAY_INSTALL_HINT = "--ray needs Ray: pip install 'asyncgen[ray]'"
LOCAL = "local"
LOOPBACK = "127.0.0.1"
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP = loopback, servers bind to it
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
}


def require_ray(address: str | None = None) -> Any:
    """The `ray` module; for a loopback `address`, imported with the loopback settings
    (Ray reads them at import time).

    Raises:
        ConfigError: Ray is not installed (the message says how to install it).
    """
    loopback = address is not None and is_loopback(address)
    if loopback:  # inherited by every process the cluster starts
        for key, value in LOOPBACK_ENV.items():
            os.environ[key] = value
    try:
        ray = importlib.import_module("ray")
    except ImportError as exc:
        raise ConfigError(RAY_INSTALL_HINT) from exc
    if loopback:  # ray may have been imported before the variable was set
        constants: Any = sys.modules.get("ray._private.ray_constants")
        if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
            constants.ENABLE_RAY_CLUSTER = False
    return ray


def check_settings(config: RunConfig) -> None:
    """Refuse what a cluster run cannot do, before anything is written.

    Raises:
        ConfigError: a Ray Client address (`ray://`), batch mode (its rounds are one
            Batch API job at a time, kept by one process), or Ray is missing.
    """
    address = config.engine.ray.address
    if address and address.startswith("ray://"):
        raise ConfigError(
            f"--ray {address}: Ray Client is not supported (the run directory and the dedup "
            "service live on the driver's node): run asyncgen on a cluster node, --ray HOST:PORT"
        )
    if address and config.llm.mode == "batch":
        raise ConfigError(
            "--mode batch runs on one machine (one Batch API job per round): drop --ray"
        )
    if address:
        require_ray(address)


def is_loopback(address: str) -> bool:
    """True for `local` and for addresses on this machine's loopback interface."""
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return address == LOCAL or host in ("127.0.0.1", "localhost", "::1")


@dataclass
class Cluster:
    """A connection to Ray; `started` when this process started the cluster itself."""

    ray: Any
    address: str
    started: bool

    def node_id(self) -> str:
        """This (the driver's) node: the dedup service runs here, beside the run directory."""
        return str(self.ray.get_runtime_context().get_node_id())

    def shutdown(self) -> None:
        """Disconnect; a cluster started for the run stops with it."""
        self.ray.shutdown()


def connect(address: str, *, num_cpus: int | None = None) -> Cluster:
    """Start a loopback cluster (`local`) or join an existing one at `address`.

    Raises:
        ConfigError: Ray is missing, or the cluster cannot be reached.
    """
    ray = require_ray(address)
    if ray.is_initialized():
        return Cluster(ray, address, started=False)
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
        "ignore_reinit_error": True,
    }
    try:
        if address == LOCAL:
            ctx = ray.init(address="local", _node_ip_address=LOOPBACK, num_cpus=num_cpus, **kwargs)
        else:
            ctx = ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot start or join Ray at {address}: {exc}") from exc
    info = getattr(ctx, "address_info", {}) or {}
    node_ip = info.get("node_ip_address")
    logger.info("ray cluster at %s (node %s)", info.get("address", address), node_ip)
    return Cluster(ray, str(info.get("address", address)), started=address == LOCAL)
