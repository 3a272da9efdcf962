"""The dataset report: validity, diversity, coverage against the plan, length, cost, noise."""

from asyncgen.report.build import build_report
from asyncgen.report.write import write_report

__all__ = ["build_report", "write_report"]
