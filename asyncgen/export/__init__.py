"""asyncgen.export."""
