"""The plain `complete` parser (a hot start without typer) reads a command line exactly as
typer does, and hands everything else to typer."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import typer

from asyncgen.cli import build_app, complete_cmd
from asyncgen.cli.complete_run import complete_from_options
from asyncgen.cli.plain import COMPLETE_OPTIONS, COMPLETE_REQUIRED, plain_complete


def test_the_table_is_typers_declaration_of_complete() -> None:
    group = typer.main.get_command(build_app(("complete_cmd",)))
    command = group.commands["complete"]  # type: ignore[attr-defined]
    options = [p for p in command.params if p.opts != ["--help"]]
    assert {p.opts[0] for p in options} == set(COMPLETE_OPTIONS)
    for param in options:
        (flag,) = param.opts
        key, convert = COMPLETE_OPTIONS[flag]
        assert param.name == key and not param.secondary_opts and not param.multiple
        assert param.envvar is None, flag
        assert param.required == (key in COMPLETE_REQUIRED), flag
        if convert is None:
            assert param.is_flag, flag
        else:
            assert not param.is_flag and param.type_descriptor.annotation is convert, flag
    assert set(inspect.signature(complete_from_options).parameters) == {
        key for key, _ in COMPLETE_OPTIONS.values()
    }


LINES = [
    ["complete", "--input", "in.jsonl", "--output", "out/r.jsonl"],
    [
        "complete", "--output=r.jsonl", "--input", "a b.jsonl", "--quiet", "--rpm", "6000",
        "--tpm", " 90000 ", "--concurrency=50", "--base-url", "http://127.0.0.1:9/v1",
        "--model", "m", "--config", "c.yaml", "--max-cost", "1.5", "--max-tokens", "10",
        "--price-in", "0.1", "--price-out=2", "--metrics-port", "9100", "--log-level",
        "debug", "--ray", "local", "--ray-workers", "3", "--mode", "batch", "--deadline", "8h",
    ],
    ["complete", "--input=", "--output", "r.jsonl", "--rpm=-5", "--model="],
]  # fmt: skip


@pytest.mark.parametrize("args", LINES)
def test_a_plain_line_gives_what_typer_gives(args: list[str], monkeypatch: Any) -> None:
    seen: list[dict[str, Any]] = []

    def record(**options: Any) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(complete_cmd, "complete_from_options", record)
    build_app(("complete_cmd",))(args=args, prog_name="asyncgen", standalone_mode=False)
    defaults = {
        name: p.default
        for name, p in inspect.signature(complete_from_options).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    plain = plain_complete(args)
    assert plain is not None
    assert {**defaults, **plain} == seen[0]
    assert all(type(v) is type(seen[0][k]) for k, v in plain.items())


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["complete", "--help"],
        ["complete", "--input", "a", "--output", "b", "--help"],
        ["--quiet", "complete", "--input", "a", "--output", "b"],
        ["complete", "--input", "a"],  # --output missing: typer's usage error
        ["complete", "--input", "a", "--output", "b", "--output", "c"],
        ["complete", "--input", "a", "--output", "b", "--rpm", "many"],
        ["complete", "--input", "a", "--output", "b", "--rpm"],
        ["complete", "--input", "a", "--output", "b", "--rpm", "\u0665"],  # typer refuses
        ["complete", "--input", "a", "--output", "b", "--rpm", "5.0"],  # typer reads 5
        ["complete", "--input", "a", "--output", "b", "--quiet=yes"],
        ["complete", "--input", "a", "--output", "--quiet"],
        ["complete", "--input", "a", "--output", "b", "--inputs", "c"],
        ["complete", "--input", "a", "--output", "b", "extra"],
        ["complete", "--input", "a", "--output", "b", "--no-quiet"],
        ["generate", "--n", "3"],
    ],
)
def test_anything_else_goes_to_typer(args: list[str]) -> None:
    assert plain_complete(args) is None


def test_a_shell_completion_request_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_ASYNCGEN_COMPLETE", "bash_complete")
    assert plain_complete(["complete", "--input", "a", "--output", "b"]) is None
