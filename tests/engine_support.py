"""Small pipelines for the engine's tests (importable by a CLI subprocess as `engine_support`).

`EchoPipeline` makes one model call per item through the transport; `LocalPipeline` makes
none (it computes its record), so engine behaviour can be tested in-process without a
simulator. Variants fail, reject or repeat on fixed indices, so outcomes are predictable.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path
from typing import Any

from asyncgen.config import RunConfig
from asyncgen.contract import (
    Failure,
    Outcome,
    PipelineBase,
    Record,
    Reject,
    RunContext,
    WorkItem,
)
from asyncgen.llm.types import ChatRequest

TESTS_DIR = Path(__file__).resolve().parent
WORDS = ["river", "lamp", "orbit", "cactus", "violin", "harbor", "pepper", "glacier", "tunnel"]


class LocalPipeline(PipelineBase):
    """Records computed from the item alone; `delay` seconds of await per item."""

    name = "local"
    records_file = "records.jsonl"
    delay = 0.0
    fail_every = 0
    reject_every = 0
    variant = "plain"

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.seed = config.engine.seed
        self.prepared = 0
        self.restored: list[str] = []
        self.calls = 0

    async def prepare(self, ctx: RunContext) -> None:
        """Count preparations (a resume prepares again)."""
        self.prepared += 1

    def plan_fingerprint(self) -> dict[str, Any]:
        """The variant and its failure pattern fix the plan."""
        return {"variant": self.variant, "fail_every": self.fail_every}

    def plan_item(self, index: int) -> WorkItem:
        """A seeded phrase per index."""
        rng = random.Random(f"{self.seed}-{index}")
        phrase = " ".join(rng.choice(WORDS) for _ in range(6))
        return WorkItem(index=index, seed=self.seed, payload={"phrase": phrase})

    async def run_item(self, item: WorkItem, ctx: RunContext) -> Outcome:
        """Fail or reject on the configured indices, else a record."""
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_every and item.index % self.fail_every == self.fail_every - 1:
            return Failure(reason=f"planned failure of item {item.index}", attempts=2)
        if self.reject_every and item.index % self.reject_every == self.reject_every - 1:
            return Reject(reason="invalid format", raw="<garbled>")
        return Record(id=item.record_id, data=self.data(item, item.payload["phrase"]))

    def data(self, item: WorkItem, text: str) -> dict[str, Any]:
        """The record's fields."""
        return {"index": item.index, "text": text, "created_at": "2026-01-01T00:00:00"}

    def restore(self, record: dict[str, Any]) -> None:
        """Remember which records a resume re-learned."""
        self.restored.append(str(record["id"]))

    def index_entry(self, record: Record) -> dict[str, Any]:
        """Id, index and created_at."""
        return {
            "id": record.id,
            "index": record.data["index"],
            "created_at": record.data["created_at"],
        }

    def dedup_text(self, record: Record) -> str | None:
        """The record's text."""
        return str(record.data["text"])


class FlakyLocal(LocalPipeline):
    """Every fifth item fails."""

    variant = "flaky"
    fail_every = 5


class EchoPipeline(LocalPipeline):
    """One chat call per item through the transport (the simulator in tests)."""

    name = "echo"

    async def run_item(self, item: WorkItem, ctx: RunContext) -> Outcome:
        """Ask the model to echo the phrase; planned failures still apply."""
        if self.fail_every and item.index % self.fail_every == self.fail_every - 1:
            return Failure(reason=f"planned failure of item {item.index}")
        request = ChatRequest(
            messages=[{"role": "user", "content": f"Repeat: {item.payload['phrase']}"}],
            kind="generic",
            max_tokens=24,
        )
        result = await ctx.client.chat(request)
        return Record(id=item.record_id, data=self.data(item, result.content))


class FlakyEcho(EchoPipeline):
    """Echo where every seventh item fails (and is replaced)."""

    variant = "flaky-echo"
    fail_every = 7


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a CLI subprocess: no keys, the tests folder importable."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "120"
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    """The `asyncgen` command line run by the test interpreter."""
    return [sys.executable, "-m", "asyncgen", *args]
