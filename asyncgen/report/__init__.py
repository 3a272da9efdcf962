"""asyncgen.report."""
