"""asyncgen.sim."""
