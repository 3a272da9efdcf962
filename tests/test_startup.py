"""Start-up: what `asyncgen complete --quiet` loads before its first request.

Each of these libraries once sat on the path to the first request (issue 17: start to
first request 0.67 s): httpx and aiohttp (the HTTP client, the probe), numpy (the
diversity watch), rich (a quiet run shows nothing), tiktoken (it downloaded its encoding
on the event loop), typer and click (a plain `complete` command line is parsed without
them: ~45 ms of CPU).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from engine_support import cli, subprocess_env

from asyncgen.cli.launch import _ErrorsOnly

HEAVY = ("httpx", "aiohttp", "numpy", "rich", "tiktoken", "requests")


def test_the_complete_path_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from asyncgen.cli import build_app\n"
        "import asyncgen.cli.launch, asyncgen.engine.complete, asyncgen.engine.session\n"
        "build_app(('complete_cmd',))\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_quiet_runs_still_show_errors(capfd: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("asyncgen.test_startup")
    logger.propagate = False
    handler = _ErrorsOnly()
    logger.addHandler(handler)
    try:
        logger.warning("a warning stays in the log file")
        logger.error("the endpoint refused every request")
    finally:
        logger.removeHandler(handler)
    err = capfd.readouterr().err
    assert "the endpoint refused every request" in err and "warning stays" not in err


def imported_by(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the CLI under `-X importtime`: its result and the modules it loaded (each
    package too: `a.b` adds `a` and `a.b`)."""
    command = cli(*args)
    result = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=subprocess_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    loaded: set[str] = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = line.rsplit("|", 1)[1].strip().split(".")
            loaded.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return result, loaded


def test_a_plain_complete_line_runs_without_typer(tmp_path: Path) -> None:
    """A plain `complete` line (in a folder without .env) imports the engine, transport and
    store, but neither typer, pydantic's plugin scan, dotenv nor the email parser."""
    requests = tmp_path / "in.jsonl"
    requests.write_text("")
    args = ["complete", "--input", str(requests), "--output", str(tmp_path / "r.jsonl")]
    result, loaded = imported_by([*args, "--quiet", "--rpm=60"], tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"complete: {requests} holds no requests; nothing was done" in result.stderr
    assert not loaded & {"typer", "click", "importlib.metadata", "dotenv", "email", *HEAVY}
    # typer reads what the plain parser does not, and answers with its own error, as before
    result, loaded = imported_by([*args, "--rpm", "sixty"], tmp_path)
    assert result.returncode == 2 and "typer" in loaded
    assert "Invalid value" in result.stderr and "--rpm" in result.stderr


def test_pydantic_works_without_its_plugin_scan() -> None:
    """pydantic's plugin loader is stood in for (no importlib.metadata); models validate,
    and any other name of the loader still comes from the real module."""
    code = (
        "import sys\n"
        "from asyncgen.cli.startup import skip_pydantic_plugins\n"
        "skip_pydantic_plugins()\n"
        "from asyncgen.config import load_config\n"
        "assert load_config(None, {'llm.limits.rpm': 60}, env_file=None).llm.limits.rpm == 60\n"
        "assert 'importlib.metadata' not in sys.modules\n"
        "from pydantic.plugin._loader import PYDANTIC_ENTRY_POINT_GROUP, get_plugins\n"
        "print(list(get_plugins()), PYDANTIC_ENTRY_POINT_GROUP)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["[]", "pydantic"]


FIRST_REQUEST_PROBE = """
import asyncio, gc, json, pathlib, sys, threading
from http_stub import StubServer, completion

state = {"started": False, "passes": 0}
requests, output = sys.argv[1:3]

def count(phase, info):
    # a pass on the main thread after main() began and before the loop runs
    main_thread = threading.current_thread() is threading.main_thread()
    if phase == "start" and state["started"] and main_thread:
        state["passes"] += asyncio._get_running_loop() is None

gc.callbacks.append(count)
first = []

from asyncgen import offload  # every thread trip on the loop goes through these two
trips = []
for name in ("to_thread", "cpu"):
    def counted(func, *args, _real=getattr(offload, name)):
        trips.append(getattr(func, "__qualname__", type(func).__name__))
        return _real(func, *args)
    setattr(offload, name, counted)

def handler(body, number):
    if not first:
        run_dir = pathlib.Path(output).with_suffix(".run")
        snapshot = {name: json.loads((run_dir / name).read_text()) and True
                    for name in ("plan.json", "config.json") if (run_dir / name).exists()}
        first.append({"passes": state["passes"], "enabled": gc.isenabled(),
                      "frozen": gc.get_freeze_count(), "snapshot": sorted(snapshot),
                      "trips": list(trips),
                      "asyncgen": sorted(m for m in sys.modules if m.startswith("asyncgen"))})
    return 200, completion(), {}

with StubServer(handler) as server:
    sys.argv = ["asyncgen", "complete", "--input", requests, "--output", output,
                "--base-url", server.base_url, "--model", "m", "--quiet"]
    from asyncgen.cli import main
    state["started"] = True
    try:
        main()
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, **first[0]}))
"""


def test_at_the_first_request(tmp_path: Path) -> None:
    """A plain `complete` line loads its modules and builds its config with the cyclic
    collector off (it made ~70 passes over objects kept for good, ~10 ms of CPU before
    the first request); by the first request it is on again, the start-up heap frozen.
    The run directory's snapshot, written while start-up went on, is on disk by then;
    neither the prompt templates, the quality judge (off by default) nor the SSE reader
    were loaded, and
    at most 8 round trips to a worker thread preceded it."""
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    out = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST_PROBE, str(requests), str(tmp_path / "r.jsonl")],
        env=subprocess_env(OPENAI_API_KEY="sk-test-collector-0000"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["code"] == 0
    assert seen["passes"] == 0  # none while loading, configuring and opening the run
    assert seen["enabled"] and seen["frozen"] > 20_000
    assert seen["snapshot"] == ["config.json", "plan.json"]
    unused = {"asyncgen.prompts", "asyncgen.quality.judge", "asyncgen.llm.stream"}
    assert unused.isdisjoint(seen["asyncgen"])
    assert "asyncgen.engine.runner" in seen["asyncgen"]  # the list is the run's
    # round trips to a worker thread before the first request: 12 before the writers
    # opened their files together and the tokenizer skipped a load with nothing to load
    assert len(seen["trips"]) <= 8, seen["trips"]
    assert "_encoder" not in seen["trips"] and "open_appending" in seen["trips"]


def test_the_collector_is_left_alone_without_a_hold() -> None:
    """The Python API (no CLI hold) runs with the collector as the caller set it."""
    code = (
        "import gc\n"
        "from asyncgen.engine.session import run_loop\n"
        "async def probe():\n"
        "    return gc.isenabled()\n"
        "gc.disable()\n"
        "print(run_loop(probe()), gc.get_freeze_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["False", "0"]


def test_a_config_builds_one_validator() -> None:
    """Loading and snapshotting a config builds `RunConfig`'s validator and serializer
    only (a section's own are built at its first standalone use: ~6 ms of CPU before the
    first request went to building ~30 of them); an assignment still validates."""
    code = (
        "from asyncgen.config import load_config\n"
        "from asyncgen.config.base import Settings\n"
        "def tree(cls):\n"
        "    for sub in cls.__subclasses__():\n"
        "        yield sub\n"
        "        yield from tree(sub)\n"
        "config = load_config(None, {'llm.limits.rpm': 60}, env_file=None)\n"
        "config.model_dump(mode='json')\n"
        "print(sorted(c.__name__ for c in tree(Settings) if c.__pydantic_complete__))\n"
        "try:\n"
        "    config.llm.limits.rpm = -5\n"
        "except ValueError as exc:\n"
        "    print(str(exc).splitlines()[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.splitlines() == ["['RunConfig']", "1 validation error for LimitSettings"]
