"""The simulator's Batch API through the official openai SDK (files and batches calls)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import openai
import orjson

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def batch_file(n: int, *, model: str = "sim-model", kind: str = "generic") -> io.BytesIO:
    lines = [
        orjson.dumps(
            {
                "custom_id": f"req-{i}#{kind}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": model,
                    "messages": [{"role": "user", "content": f"Plan a quiet weekend, idea {i}."}],
                },
            }
        )
        for i in range(n)
    ]
    return io.BytesIO(b"\n".join(lines) + b"\n")


def wait_for(client: openai.OpenAI, batch_id: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    batch = client.batches.retrieve(batch_id)
    while batch.status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.05)
        batch = client.batches.retrieve(batch_id)
    return batch


def lines_of(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [orjson.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_sdk_files_and_batches_round_trip(sim_factory: Callable[..., Any]) -> None:
    """Upload, create with metadata, retrieve until completed, list, download the answers."""
    sim = sim_factory(api_key="sk-test", batch={"round_time": 0.3})
    client = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", batch_file(5)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes > 0
    assert client.files.retrieve(uploaded.id).filename == "in.jsonl"
    created = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"asyncgen_run": "r1", "asyncgen_round": "0"},
    )
    assert created.status == "validating"
    started = time.monotonic()
    batch = wait_for(client, created.id)
    assert batch.status == "completed" and time.monotonic() - started >= 0.25
    assert batch.metadata == {"asyncgen_run": "r1", "asyncgen_round": "0"}
    assert batch.request_counts is not None and batch.request_counts.completed == 5
    assert [b.id for b in client.batches.list(limit=10)] == [created.id]
    answers = lines_of(client, batch.output_file_id)
    assert sorted(a["custom_id"] for a in answers) == [f"req-{i}#generic" for i in range(5)]
    body = answers[0]["response"]["body"]
    assert answers[0]["response"]["status_code"] == 200
    assert body["choices"][0]["message"]["content"] and body["usage"]["prompt_tokens"] > 0


def test_batch_answers_are_the_online_answers(sim_factory: Callable[..., Any]) -> None:
    """The same responders: a batch request gets what the same request gets online."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", batch_file(3)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    answers = lines_of(client, wait_for(client, batch.id).output_file_id)
    by_id = {
        a["custom_id"]: a["response"]["body"]["choices"][0]["message"]["content"] for a in answers
    }
    for i in range(3):
        online = client.chat.completions.create(
            model="sim-model",
            messages=[{"role": "user", "content": f"Plan a quiet weekend, idea {i}."}],
            extra_headers={"X-Asyncgen-Kind": "generic"},
        )
        assert online.choices[0].message.content == by_id[f"req-{i}#generic"]


def test_cancel_keeps_what_finished(sim_factory: Callable[..., Any]) -> None:
    """A cancelled batch ends `cancelled`; unfinished requests are `batch_cancelled` errors."""
    sim = sim_factory(batch={"round_time": 1.0})
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", batch_file(40)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    time.sleep(0.5)
    assert client.batches.cancel(batch.id).status == "cancelling"
    done = wait_for(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at is not None
    finished = lines_of(client, done.output_file_id)
    errors = lines_of(client, done.error_file_id)
    assert len(finished) + len(errors) == 40
    assert 0 < len(finished) < 40
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}


def test_expiry_and_error_rates(sim_factory: Callable[..., Any]) -> None:
    """Expired requests end in the error file (batch `expired`); errors carry a 500 body."""
    sim = sim_factory(batch={"round_time": 0.0, "expiry_rate": 0.3, "error_rate": 0.2})
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", batch_file(200)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_for(client, batch.id)
    assert done.status == "expired"
    errors = lines_of(client, done.error_file_id)
    expired = [e for e in errors if e["error"] and e["error"]["code"] == "batch_expired"]
    failed = [e for e in errors if e["response"] and e["response"]["status_code"] == 500]
    assert 30 <= len(expired) <= 90 and 15 <= len(failed) <= 70
    assert len(lines_of(client, done.output_file_id)) + len(errors) == 200


def test_enqueued_token_limit_fails_a_batch_that_does_not_fit(
    sim_factory: Callable[..., Any],
) -> None:
    """Past the model's enqueued-token limit a batch fails `token_limit_exceeded`."""
    sim = sim_factory(batch={"round_time": 1.0, "enqueued_token_limit": 200})
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    first = client.files.create(file=("a.jsonl", batch_file(10)), purpose="batch")
    second = client.files.create(file=("b.jsonl", batch_file(10)), purpose="batch")
    kept = client.batches.create(
        input_file_id=first.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    time.sleep(0.2)
    refused = client.batches.create(
        input_file_id=second.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    refused = wait_for(client, refused.id)
    assert refused.status == "failed" and refused.errors is not None
    error = refused.errors.data[0]
    assert error.code == "token_limit_exceeded" and "Limit: 200" in (error.message or "")
    assert wait_for(client, kept.id).status == "completed"


def test_bad_lines_fail_validation_with_line_numbers(sim_factory: Callable[..., Any]) -> None:
    """A line without a model or with a duplicate custom_id fails the batch, naming the line."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    raw = batch_file(2).getvalue().splitlines()
    raw.append(raw[0])
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(b"\n".join(raw))), purpose="batch")
    batch = wait_for(
        client,
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id,
    )
    assert batch.status == "failed" and batch.errors is not None
    assert [(e.code, e.line) for e in batch.errors.data] == [("duplicate_custom_id", 3)]


def test_a_killed_simulators_files_are_removed_by_the_next_one(tmp_path: Any) -> None:
    """A SIGKILLed simulator cannot remove its file store; the next simulator to start
    removes every store whose process is gone, and leaves a live one's alone."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from asyncgen.sim.batch_files import PREFIX, FileStore

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    root = Path(tempfile.gettempdir())
    dead = root / f"{PREFIX}{child.pid}-test"
    live = root / f"{PREFIX}{os.getpid()}-test"
    for folder in (dead, live):
        folder.mkdir(exist_ok=True)
        (folder / "file-sim000000000001").write_bytes(b"x" * 1000)
    store = FileStore()
    try:
        assert not dead.exists() and live.exists()
        assert store.root.name.startswith(f"{PREFIX}{os.getpid()}-")
    finally:
        store.close()
        (live / "file-sim000000000001").unlink()
        live.rmdir()
    assert not store.root.exists()


def test_a_stopped_simulator_removes_its_file_store(sim_factory: Callable[..., Any]) -> None:
    """SIGTERM (what `stop` and a run's end send): the simulator removes the files it was
    given before it exits, and still ends by the signal (every stopped simulator used to
    leave its store behind, as uvicorn re-raised the signal before the cleanup)."""
    import tempfile
    from pathlib import Path

    from asyncgen.sim.batch_files import PREFIX

    sim = sim_factory()
    client = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
    client.files.create(file=("in.jsonl", batch_file(3)), purpose="batch")
    stores = list(Path(tempfile.gettempdir()).glob(f"{PREFIX}{sim.pid}-*"))
    assert len(stores) == 1 and any(stores[0].iterdir())
    proc = sim._proc
    sim.stop()
    assert not stores[0].exists()
    assert proc is not None and proc.returncode == -15
