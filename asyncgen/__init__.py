"""asyncgen."""
