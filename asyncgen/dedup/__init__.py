"""asyncgen.dedup."""
