"""docs/from-the-spec.md holds: every name it maps exists, every flag is accepted, every
setting is a setting, and its examples run as written (no key: the embedded simulator)."""

from __future__ import annotations

import importlib
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from asyncgen.config import RunConfig

DOC = Path(__file__).resolve().parent.parent / "docs" / "from-the-spec.md"
TEXT = DOC.read_text(encoding="utf-8")
REFS = re.findall(r"^\| [^|]+ \| `(py|set|cli):([^`]+)` \|", TEXT, re.MULTILINE)


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ImportError(dotted)


def _is_setting(dotted: str) -> bool:
    model: type[BaseModel] | None = RunConfig
    for part in dotted.split("."):
        if model is None or part not in model.model_fields:
            return False
        kind = model.model_fields[part].annotation
        model = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
    return True


def test_the_doc_maps_many_names() -> None:
    kinds = [kind for kind, _ in REFS]
    assert kinds.count("py") >= 60 and kinds.count("set") >= 20 and kinds.count("cli") >= 14


@pytest.mark.parametrize("name", [ref for kind, ref in REFS if kind == "py"])
def test_every_mapped_name_exists(name: str) -> None:
    assert _resolve(name) is not None


@pytest.mark.parametrize("key", [ref for kind, ref in REFS if kind == "set"])
def test_every_mapped_setting_exists(key: str) -> None:
    assert _is_setting(key), key


def test_every_mapped_flag_is_accepted() -> None:
    """Each `cli:` flag is one of the command's options (from its click definition)."""
    import typer

    from asyncgen.cli import app

    command = typer.main.get_command(app)
    for ref in [ref for kind, ref in REFS if kind == "cli"]:
        name, flag = ref.split()
        options = {o for p in command.commands[name].params for o in p.opts}  # type: ignore[attr-defined]
        assert flag in options, f"asyncgen {name} has no {flag}"


async def test_the_docs_examples_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both python blocks, awaited in one coroutine, with no key and no endpoint."""
    for variable in ("OPENAI_API_KEY", "OPENAI_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", TEXT, re.DOTALL)
    assert len(blocks) == 2
    for number, block in enumerate(blocks):
        source = "async def example(run_dir):\n" + textwrap.indent(block, "    ")
        scope: dict[str, Any] = {}
        exec(compile(source, f"{DOC.name}[{number}]", "exec"), scope)
        await scope["example"](tmp_path / f"run{number}")
