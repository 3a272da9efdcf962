"""asyncgen.interaction."""
