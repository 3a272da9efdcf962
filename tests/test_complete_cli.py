"""`asyncgen complete`: results keep their ids, failures say why, a rerun skips finished ids."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from engine_support import cli, subprocess_env

FLAKY = """
sim:
  faults:
    error_500: 0.3
llm:
  retry:
    max_retries: 0
engine:
  fsync_interval: 0.0
"""


def write_requests(path: Path, count: int) -> None:
    """`count` chat requests with ids and metadata (every fifth without an id)."""
    with path.open("wb") as out:
        for i in range(count):
            line: dict[str, object] = {
                "messages": [{"role": "user", "content": f"question {i}"}],
                "max_tokens": 16,
                "metadata": {"row": i},
            }
            if i % 5:
                line["id"] = f"req-{i}"
            out.write(orjson.dumps(line) + b"\n")


def complete(tmp_path: Path, *args: str, config: str = "") -> subprocess.CompletedProcess[str]:
    """Run `asyncgen complete` in a subprocess."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config or "engine:\n  fsync_interval: 0.0\n")
    return subprocess.run(
        cli("complete", *args, "--config", str(cfg), "--quiet"),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def ids_of(path: Path) -> list[str]:
    """The ids of a JSONL file, in order."""
    if not path.exists():
        return []
    return [orjson.loads(line)["id"] for line in path.read_bytes().splitlines()]


def test_results_keep_the_input_ids_and_metadata(tmp_path: Path) -> None:
    """Each request becomes one result with its id (or line-N) and its metadata."""
    write_requests(tmp_path / "in.jsonl", 25)
    out = tmp_path / "out" / "results.jsonl"
    result = complete(tmp_path, "--input", str(tmp_path / "in.jsonl"), "--output", str(out))
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert {r["id"] for r in lines} == {f"req-{i}" if i % 5 else f"line-{i + 1}" for i in range(25)}
    first = next(r for r in lines if r["id"] == "req-1")
    assert first["metadata"] == {"row": 1} and first["content"] and first["usage"]["total_tokens"]
    assert (tmp_path / "out" / "results.run" / "summary.json").exists()


def test_every_line_ends_as_result_or_failure_and_rerun_retries_only_failures(
    tmp_path: Path,
) -> None:
    """With 500s and no retries some fail with a reason; a rerun sends only those again."""
    write_requests(tmp_path / "in.jsonl", 60)
    out = tmp_path / "results.jsonl"
    failures = tmp_path / "results.failures.jsonl"
    args = ("--input", str(tmp_path / "in.jsonl"), "--output", str(out))
    assert complete(tmp_path, *args, config=FLAKY).returncode == 0
    done, failed = ids_of(out), ids_of(failures)
    assert failed and len(done) + len(failed) == 60 and not set(done) & set(failed)
    reasons = [orjson.loads(x)["reason"] for x in failures.read_bytes().splitlines()]
    assert all("ServerError" in r for r in reasons)
    assert complete(tmp_path, *args, config=FLAKY).returncode == 0
    summary = orjson.loads((tmp_path / "results.run" / "summary.json").read_bytes())
    assert summary["requests"] == len(failed) and summary["done_before"] == len(done)
    after = ids_of(out)
    assert len(after) == len(set(after)) and len(after) + len(ids_of(failures)) == 60


def test_malformed_input_line_names_file_and_line(tmp_path: Path) -> None:
    """A bad line stops the command before any request: one line, exit 2."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": "oops"}\n')
    result = complete(tmp_path, "--input", str(source), "--output", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {source}:2: 'messages' must be a non-empty list"
    ]
    assert not (tmp_path / "o.jsonl").exists()


def test_max_cost_stops_new_requests_and_a_rerun_continues(tmp_path: Path) -> None:
    """A spent --max-cost starts no new request; the summary says budget; a rerun goes on."""
    write_requests(tmp_path / "in.jsonl", 200)
    out = tmp_path / "results.jsonl"
    args = ("--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--concurrency", "2")
    first = complete(tmp_path, *args, "--max-cost", "0.00005", "--model", "gpt-4o")
    assert first.returncode == 0, first.stderr
    summary = orjson.loads((tmp_path / "results.run" / "summary.json").read_bytes())
    assert summary["status"] == "budget" and 0 < summary["done"] < 200
    assert summary["not_started"] == 200 - summary["done"] - summary["failed"]
    assert complete(tmp_path, *args).returncode == 0
    assert sorted(ids_of(out)) == sorted(
        f"req-{i}" if i % 5 else f"line-{i + 1}" for i in range(200)
    )
