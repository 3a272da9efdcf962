"""asyncgen.llm."""
