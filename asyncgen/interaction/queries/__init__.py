"""Queries: written per persona by a model (or read from a file), then style-transferred."""

from asyncgen.interaction.queries.files import load_queries
from asyncgen.interaction.queries.model import QueryRecord, query_id
from asyncgen.interaction.queries.style import StyleTransfer
from asyncgen.interaction.queries.writer import QueryWriter

__all__ = ["QueryRecord", "QueryWriter", "StyleTransfer", "load_queries", "query_id"]
