"""asyncgen.personas."""
