"""Start-up: what `asyncgen complete --quiet` loads before its first request.

Each of these libraries once sat on the path to the first request (issue 17: start to
first request 0.67 s): httpx and aiohttp (the HTTP client, the probe), numpy (the
diversity watch), rich (a quiet run shows nothing), tiktoken (it downloaded its encoding
on the event loop).
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

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
