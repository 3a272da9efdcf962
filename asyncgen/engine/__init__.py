"""asyncgen.engine."""
