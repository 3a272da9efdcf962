"""`asyncgen complete`: results keep their ids, failures say why, a rerun skips finished ids."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from engine_support import cli, subprocess_env
from http_stub import StubServer
from http_stub import completion as stub_completion

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
    lines = [orjson.loads(x) for x in failures.read_bytes().splitlines()]
    assert all(x["reason"] == "llm_error" and "ServerError" in x["message"] for x in lines)
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
    first = complete(tmp_path, *args, "--max-cost", "0.01", "--model", "gpt-4o")
    assert first.returncode == 0, first.stderr
    summary = orjson.loads((tmp_path / "results.run" / "summary.json").read_bytes())
    assert summary["status"] == "budget" and 0 < summary["done"] < 200
    assert summary["cost_usd_total"] <= 0.01 + 2 * 0.001  # + what 2 in flight may add
    assert summary["not_started"] == 200 - summary["done"] - summary["failed"]
    assert complete(tmp_path, *args).returncode == 0
    assert sorted(ids_of(out)) == sorted(
        f"req-{i}" if i % 5 else f"line-{i + 1}" for i in range(200)
    )


def test_each_line_goes_out_as_written_minus_asyncgens_keys(tmp_path: Path) -> None:
    """id/metadata/kind stay local (metadata comes back); max_completion_tokens and unknown
    parameters pass through untouched."""
    line = {
        "id": "a1",
        "metadata": {"row": 7},
        "model": "o3-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 64,
        "reasoning_effort": "low",
        "seed": 11,
        "logit_bias": {"50256": -100},
    }
    (tmp_path / "in.jsonl").write_bytes(orjson.dumps(line) + b"\n")
    out = tmp_path / "r.jsonl"
    with StubServer(lambda body, n: (200, stub_completion(), {})) as server:
        result = complete(
            tmp_path,
            "--input",
            str(tmp_path / "in.jsonl"),
            "--output",
            str(out),
            "--base-url",
            server.base_url,
        )
    assert result.returncode == 0, result.stderr
    sent = server.bodies[0]
    assert sent == {k: v for k, v in line.items() if k not in ("id", "metadata")}
    record = orjson.loads(out.read_bytes())
    assert record["id"] == "a1" and record["metadata"] == {"row": 7}


def test_failure_records_true_attempts_and_last_request_id(tmp_path: Path) -> None:
    write_requests(tmp_path / "in.jsonl", 1)
    out = tmp_path / "r.jsonl"

    def handler(body: dict[str, object], n: int) -> tuple[int, object, dict[str, str]]:
        return 500, {"error": {"message": "boom"}}, {"x-request-id": f"req_{n}"}

    config = "llm:\n  retry:\n    max_retries: 2\n    backoff_initial: 0.01\n"
    with StubServer(handler) as server:
        result = complete(
            tmp_path,
            "--input",
            str(tmp_path / "in.jsonl"),
            "--output",
            str(out),
            "--base-url",
            server.base_url,
            config=config,
        )
    assert result.returncode == 1, result.stderr  # nothing succeeded
    failure = orjson.loads((tmp_path / "r.failures.jsonl").read_bytes())
    assert failure["attempts"] == 3 and len(server.bodies) == 3
    assert "req_3" in orjson.dumps(failure).decode()


def test_insufficient_quota_stops_at_once_and_a_rerun_continues(tmp_path: Path) -> None:
    """After the 5th answer the account is out of quota: exit 1 with one line saying what to
    do, nothing retried, the lines not done stay unstarted, and a rerun finishes them."""
    write_requests(tmp_path / "in.jsonl", 40)
    out = tmp_path / "r.jsonl"
    quota = {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}
    args = ("--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--concurrency", "1")
    with StubServer(
        lambda body, n: (200, stub_completion(), {}) if n <= 5 else (429, quota, {})
    ) as s:
        first = complete(tmp_path, *args, "--base-url", s.base_url)
        assert len(s.bodies) == 6
    assert first.returncode == 1
    assert "add credit" in first.stderr
    assert len(ids_of(out)) == 5 and not ids_of(tmp_path / "r.failures.jsonl")
    with StubServer(lambda body, n: (200, stub_completion(), {})) as s:
        again = complete(tmp_path, *args, "--base-url", s.base_url)
        assert len(s.bodies) == 35
    assert again.returncode == 0 and len(ids_of(out)) == 40
