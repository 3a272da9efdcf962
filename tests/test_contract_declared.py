"""The engine calls what the contract declares; it never probes a client or a pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

import asyncgen

ENGINE = Path(asyncgen.__file__).parent / "engine"
PROBES = {"getattr", "hasattr"}
WATCHED = ("client", "pipeline", "inner")


def _probes(path: Path) -> list[str]:
    """`getattr`/`hasattr` calls whose object is a client or a pipeline."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in PROBES
            and node.args
            and any(word in ast.unparse(node.args[0]) for word in WATCHED)
        ):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_engine_never_probes_a_client_or_a_pipeline() -> None:
    """Optional behaviour is declared (`RunClient`, `Pipeline`, `PipelineTraits`) and called."""
    probes = [probe for path in sorted(ENGINE.glob("*.py")) for probe in _probes(path)]
    assert probes == []


def test_client_base_and_pipeline_base_cover_every_declared_member() -> None:
    """A client or pipeline built on the bases satisfies the whole protocol but `chat`/the plan."""
    from asyncgen.contract import PipelineBase, PipelineOf
    from asyncgen.llm.types import ClientBase, RunClient

    def members(proto: type) -> set[str]:
        return {n for n in vars(proto) if not n.startswith("_")} - {"name", "records_file"}

    plan_parts = {"prepare", "plan_fingerprint", "plan_item", "run_item"}
    assert members(PipelineOf) - plan_parts <= set(dir(PipelineBase))
    assert members(RunClient) - {"chat"} <= set(dir(ClientBase))
