"""asyncgen.store."""
