"""asyncgen.bench."""
