"""The dataset report: validity, diversity, coverage against the plan, length, cost, noise.

`build_report` and `write_report` load on first use: the engine imports
`asyncgen.report.live` on every run, and that must not pull the whole builder into
start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncgen.report.build import build_report
    from asyncgen.report.write import write_report

__all__ = ["build_report", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from asyncgen.report.build import build_report

        return build_report
    if name == "write_report":
        from asyncgen.report.write import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
