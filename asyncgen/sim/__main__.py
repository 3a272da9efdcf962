"""Child-process entry of the embedded simulator: ``python -m asyncgen.sim``.

Reads its `SimSettings` as JSON from ``ASYNCGEN_SIM_SETTINGS_JSON`` (so an API key never
shows in the process list) and the launcher's pid from ``ASYNCGEN_SIM_PARENT_PID``.
"""

from __future__ import annotations

import os

from asyncgen.config.sim import SimSettings
from asyncgen.sim.server import serve, set_parent_death_signal

SETTINGS_ENV = "ASYNCGEN_SIM_SETTINGS_JSON"
PARENT_ENV = "ASYNCGEN_SIM_PARENT_PID"
PDEATHSIG_ENV = "ASYNCGEN_SIM_PDEATHSIG"


def main() -> None:
    """Serve with the settings the launcher passed."""
    settings = SimSettings.model_validate_json(os.environ.get(SETTINGS_ENV) or "{}")
    parent = int(os.environ.get(PARENT_ENV) or 0) or None
    if os.environ.get(PDEATHSIG_ENV) == "1":
        set_parent_death_signal()
    if parent is not None and os.getppid() != parent:
        return
    serve(
        settings, parent_pid=parent, log_level=os.environ.get("ASYNCGEN_SIM_LOG_LEVEL", "warning")
    )


if __name__ == "__main__":
    main()
