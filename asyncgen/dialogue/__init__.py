"""asyncgen.dialogue."""
