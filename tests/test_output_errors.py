"""Output-side and empty-result errors: one line, the README's exit code, no traceback."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import cli, subprocess_env

from asyncgen.engine.causes import failure_line


def _run(*args: str, **env: str) -> tuple[int, list[str]]:
    done = subprocess.run(cli(*args), env=subprocess_env(**env), capture_output=True, timeout=120)
    return done.returncode, done.stderr.decode().strip().splitlines()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished interaction run on the embedded simulator."""
    out = tmp_path_factory.mktemp("made") / "run"
    code, err = _run("generate", "--n", "3", "--out", str(out), "--quiet", "--no-dedup")
    assert code == 0, err
    return out


@pytest.fixture
def in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, list[str]]]:
    """The CLI in this process (no interpreter start-up): exit code and stderr lines."""
    from asyncgen.cli import app
    from asyncgen.cli.errors import run_cli

    def call(*args: str) -> tuple[int, list[str]]:
        monkeypatch.setattr(sys, "argv", ["asyncgen", *args])
        code = run_cli(app)
        return code, capsys.readouterr().err.strip().splitlines()

    return call


def test_report_and_export_refuse_a_directory_without_a_run(
    tmp_path: Path, in_process: Callable[..., tuple[int, list[str]]]
) -> None:
    empty = tmp_path / "just-a-folder"
    empty.mkdir()
    for args in (
        ("report", str(empty), "--no-embed"),
        ("export", str(empty)),
        ("stats", str(empty)),
    ):
        code, err = in_process(*args)
        assert code == 2 and len(err) == 1 and err[0].startswith("error: "), (args, err)
    assert list(empty.iterdir()) == []
    for args in (("report", str(tmp_path / "nope")), ("export", str(tmp_path / "nope"))):
        code, err = in_process(*args)
        assert code == 2 and err == [f"error: {tmp_path / 'nope'}: no such run directory"]


def test_an_output_path_that_cannot_be_a_folder_is_one_line(
    tmp_path: Path, run_dir: Path, in_process: Callable[..., tuple[int, list[str]]]
) -> None:
    """A file where a folder should be (ENOTDIR): generate, complete, export, report."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    requests = tmp_path / "req.jsonl"
    requests.write_text('{"id": 1, "messages": [{"role": "user", "content": "hi"}]}\n')
    cases = [
        ("generate", "--n", "2", "--out", str(blocker / "run"), "--quiet"),
        ("complete", "--input", str(requests), "--output", str(blocker / "r.jsonl"), "--quiet"),
        ("export", str(run_dir), "--out", str(blocker / "data")),
        ("report", str(run_dir), "--out", str(blocker / "rep"), "--no-embed"),
    ]
    for args in cases:
        code, err = in_process(*args)
        assert code == 2, (args, err)
        assert len(err) == 1 and "Not a directory" in err[0], (args, err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_one_line(tmp_path: Path, run_dir: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for args in (
            ("generate", "--n", "2", "--out", str(locked / "run"), "--quiet"),
            ("export", str(run_dir), "--out", str(locked / "data")),
            ("report", str(run_dir), "--out", str(locked / "rep"), "--no-embed"),
        ):
            code, err = _run(*args)
            assert code == 2 and len(err) == 1 and "Permission denied" in err[0], (args, err)
    finally:
        locked.chmod(0o755)


def test_a_full_disk_at_the_writer_boundary_is_one_line(
    tmp_path: Path,
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ENOSPC injected where export and report write their files."""
    from asyncgen.cli import app
    from asyncgen.cli.errors import run_cli
    from asyncgen.store.atomic import AtomicFile

    class FullDisk(io.BufferedWriter):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_init = AtomicFile.__init__

    def init(self: AtomicFile, final: Path) -> None:
        real_init(self, final)
        raw = self.handle.raw  # type: ignore[attr-defined]
        self.handle.detach()  # type: ignore[attr-defined]
        self.handle = FullDisk(raw)

    monkeypatch.setattr(AtomicFile, "__init__", init)
    for args in (
        ["asyncgen", "export", str(run_dir), "--out", str(tmp_path / "data")],
        ["asyncgen", "report", str(run_dir), "--out", str(tmp_path / "rep"), "--no-embed"],
    ):
        monkeypatch.setattr(sys, "argv", args)
        assert run_cli(app) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "No space left on device" in err[0], err
        assert "Traceback" not in err[0]
        assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no temporary left


def test_complete_says_when_nothing_succeeded(
    tmp_path: Path, sim_factory: Callable[..., Any]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, err = _run("complete", "--input", str(empty), "--output", str(tmp_path / "a.jsonl"))
    assert code == 1 and err == [f"complete: {empty} holds no requests; nothing was done"]
    assert not (tmp_path / "a.jsonl").exists()
    sim = sim_factory(api_key="k", error_500=1.0)
    requests = tmp_path / "req.jsonl"
    requests.write_text(
        "".join(
            f'{{"id": {i}, "messages": [{{"role": "user", "content": "q{i}"}}]}}\n'
            for i in range(3)
        )
    )
    config = tmp_path / "c.yaml"
    config.write_text("llm:\n  retry:\n    max_retries: 0\n")
    code, err = _run(
        "complete", "--input", str(requests), "--output", str(tmp_path / "b.jsonl"), "--quiet",
        "--base-url", sim.base_url, "--config", str(config), OPENAI_API_KEY="k",
    )  # fmt: skip
    assert code == 1
    assert err[-1].startswith("complete: none of 3 requests succeeded (most often 3×")


def test_a_stage_that_produced_nothing_names_the_commonest_cause(
    tmp_path: Path, sim_factory: Callable[..., Any]
) -> None:
    sim = sim_factory(api_key="k", error_500=1.0)
    config = tmp_path / "c.yaml"
    config.write_text("llm:\n  retry:\n    max_retries: 0\npersonas:\n  num_personas: 4\n")
    code, err = _run(
        "generate", "--n", "5", "--out", str(tmp_path / "run"), "--quiet", "--no-dedup",
        "--base-url", sim.base_url, "--config", str(config), OPENAI_API_KEY="k",
    )  # fmt: skip
    assert code == 2
    assert (
        err[-1].startswith("error: ") and "no queries could be produced: 4 of 4 failed" in err[-1]
    )
    assert "most often (4×): server error (500)" in err[-1] and len(err[-1]) < 600


def test_failure_line_shows_one_example_answer() -> None:
    errors = ["p1: bad json", "p2: bad json", "p3: timeout"]
    line = failure_line("no queries", errors, 5, example="not json\n at   all")
    assert line == (
        "no queries: 3 of 5 failed; most often (2×): bad json; "
        'e.g. the model answered "not json at all"'
    )
    assert "no error was reported" in failure_line("no queries", [], 5)
