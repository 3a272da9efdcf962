"""The import graph stays acyclic, between packages and between modules, and threads are
started only through `asyncgen.offload`."""

from __future__ import annotations

from import_graph import ROOT, cycles, graph, package_graph


def test_no_import_cycle_between_packages() -> None:
    """No package imports another that imports it back (lazy and TYPE_CHECKING imports count)."""
    assert cycles(package_graph(graph(ROOT))) == []


def test_no_import_cycle_between_modules() -> None:
    """No module imports another that imports it back (lazy and TYPE_CHECKING imports count)."""
    assert cycles(graph(ROOT)) == []


def test_contract_sits_at_the_bottom() -> None:
    """The contract needs only settings, the transport's protocol and the JSON alias, so
    anyone may import it."""
    edges = graph(ROOT)
    allowed = {"asyncgen.config", "asyncgen.llm.types", "asyncgen.jsontypes"}
    assert edges["asyncgen.jsontypes"] == set()
    assert edges["asyncgen.contract"] <= allowed
    for package in ("asyncgen.store", "asyncgen.dedup"):
        upward = {
            (module, target)
            for module, targets in edges.items()
            if module.startswith(package)
            for target in targets
            if target.startswith("asyncgen.engine")
        }
        assert upward == set(), f"{package} imports the engine: {upward}"


def test_threads_only_through_offload() -> None:
    """One way off the loop: `offload.to_thread` / `offload.cpu` (one pool, one named CPU
    limiter), never asyncio's executor beside anyio's pool."""
    package = ROOT / "asyncgen"
    calls = ("asyncio.to_thread(", "anyio.to_thread.run_sync(", "run_in_executor(")
    found = {
        path.relative_to(package.parent).as_posix()
        for path in package.rglob("*.py")
        if path.name != "offload.py" and any(c in path.read_text("utf-8") for c in calls)
    }
    assert sorted(found) == []
