"""The lazy public names of `asyncgen` are typed: each has a TYPE_CHECKING import too."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import asyncgen


def _typed_imports() -> dict[str, str]:
    """Name -> module of every `from M import X as X` under `if TYPE_CHECKING:`."""
    tree = ast.parse(Path(asyncgen.__file__).read_text("utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module is not None
                for alias in imp.names:
                    assert alias.asname == alias.name, f"{alias.name} is not re-exported"
                    found[alias.name] = imp.module
    return found


def test_every_lazy_name_is_seen_by_type_checkers_from_its_module() -> None:
    """mypy and editors see exactly the names `__getattr__` serves, from the same modules."""
    assert _typed_imports() == asyncgen._EXPORTS


def test_every_lazy_name_loads() -> None:
    """Each public name resolves to the object its module defines."""
    for name, module in asyncgen._EXPORTS.items():
        assert getattr(asyncgen, name) is getattr(importlib.import_module(module), name)
