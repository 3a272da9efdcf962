"""asyncgen's import graph read from the source: every `import asyncgen...` anywhere.

Imports inside functions and under `TYPE_CHECKING` count too: a lazy import only hides a
cycle from the interpreter, not from a reader. `python tests/import_graph.py` prints the
module count, the module cycles and the package cycles (the figures in the issue).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package's __init__)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((root / "asyncgen").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _targets(name: str, node: ast.AST, known: dict[str, tuple[Path, bool]]) -> Iterator[str]:
    """The asyncgen modules one import statement in module `name` reaches."""

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("asyncgen") and (hit := owner(alias.name)):
                yield hit
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            here = name.split(".") if known[name][1] else name.split(".")[:-1]
            here = here[: len(here) - node.level + 1]
            base = ".".join([*here, *([node.module] if node.module else [])])
        if base.startswith("asyncgen"):
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if hit := (full if full in known else owner(base)):
                    yield hit


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the asyncgen modules it imports (a package's own re-exports left out)."""
    known = modules(root)
    edges: dict[str, set[str]] = {}
    for name, (path, is_package) in known.items():
        found = {
            target
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            for target in _targets(name, node, known)
        }
        found.discard(name)
        if is_package:  # an __init__ re-exporting its own modules is not a cycle
            found = {t for t in found if not t.startswith(name + ".")}
        edges[name] = found
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def package_of(module: str) -> str:
    """`asyncgen.engine.runner` → `asyncgen.engine`; top-level modules are their own."""
    return ".".join(module.split(".")[:2])


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between packages (the root `asyncgen/__init__` with its lazy names left out)."""
    packages: dict[str, set[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            a, b = package_of(source), package_of(target)
            if a != b and "asyncgen" not in (a, b):
                packages.setdefault(a, set()).add(b)
    return packages


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    edges = graph(root)
    print("modules", len(edges))  # noqa: T201 - a command-line report
    print("module cycles", cycles(edges))  # noqa: T201
    print("package cycles", cycles(package_graph(edges)))  # noqa: T201
