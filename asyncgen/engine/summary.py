"""The end-of-run account: counts that add up to the plan, usage, speed and loop lag.

The counts keep two identities, which the tests check against the files:
`planned == done + failed + rejected + not_started` and
`target == done + not_started + unreplaced` (an unreplaced item is a failure or reject
whose replacement the supplement-round limit did not allow).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from asyncgen.engine.progress import fmt_duration
from asyncgen.errors import StoreError
from asyncgen.jsontypes import JsonObject
from asyncgen.store.jsonl import iter_jsonl

if TYPE_CHECKING:
    from rich.table import Table

Status = Literal["complete", "short", "interrupted", "budget", "failing"]


@dataclass
class RunSummary:
    """What a run produced and what it cost; written as summary.json."""

    pipeline: str
    run_dir: str
    status: Status
    target: int
    done: int
    failed: int
    rejected: int
    not_started: int
    unreplaced: int
    dedup_rejects: int
    supplement_rounds: int
    max_supplement_rounds: int
    done_before: int
    session_done: int
    session_failed: int
    session_rejected: int
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cost_usd_total: float = 0.0
    wall_time_s: float = 0.0
    loop_lag: dict[str, float] = field(default_factory=dict)
    simulated: bool = False
    started_at: str = ""
    finished_at: str = ""
    failure_reasons: dict[str, int] = field(default_factory=dict)
    torn_bytes_dropped: int = 0
    error: str | None = None
    batch: JsonObject | None = None
    quality: JsonObject | None = None  # the in-run judge's counts and means (issue 22)
    figures: JsonObject | None = None  # the pipeline's own figures (the turn mix)
    diversity: JsonObject | None = None  # the diversity watch's last window, warnings
    short_reason: str | None = None
    requests_total: int = 0
    tokens_in_total: int = 0
    tokens_out_total: int = 0
    tokens_cached_total: int = 0
    spend: JsonObject = field(default_factory=dict)

    def add_spend(self, spend: JsonObject) -> None:
        """The run's totals from its ledger (every session, killed ones included)."""
        self.spend = spend
        self.requests_total = int(spend.get("requests", 0))
        self.tokens_in_total = int(spend.get("tokens_in", 0))
        self.tokens_out_total = int(spend.get("tokens_out", 0))
        self.tokens_cached_total = int(spend.get("tokens_cached", 0))
        self.cost_usd_total = float(spend.get("cost_usd", 0.0))

    @property
    def cost_per_record(self) -> float | None:
        """The run's dollars per accepted record (None before the first)."""
        return self.cost_usd_total / self.done if self.done else None

    @property
    def planned(self) -> int:
        """Every item the plan has started or still owes."""
        return self.done + self.failed + self.rejected + self.not_started

    @property
    def replacements(self) -> int:
        """Items planned beyond the target to replace failures and rejects."""
        return self.planned - self.target

    @property
    def success_rate(self) -> float:
        """Records among the items that ended."""
        ended = self.done + self.failed + self.rejected
        return self.done / ended if ended else 1.0

    @property
    def throughput(self) -> float:
        """Records per second this session."""
        return self.session_done / self.wall_time_s if self.wall_time_s > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """1 for a run interrupted or stopped by its failures, else 0."""
        return 1 if self.status in ("interrupted", "failing") else 0

    def to_dict(self) -> JsonObject:
        """summary.json's content, derived figures included."""
        data = dataclasses.asdict(self)
        data.update(
            planned=self.planned,
            replacements=self.replacements,
            short=max(0, self.target - self.done),
            success_rate=round(self.success_rate, 4),
            throughput_per_s=round(self.throughput, 3),
            wall_time_s=round(self.wall_time_s, 3),
            cost_usd=round(self.cost_usd, 6),
            cost_usd_total=round(self.cost_usd_total, 6),
            cost_per_record=(
                None if self.cost_per_record is None else round(self.cost_per_record, 8)
            ),
        )
        return data


SHORT_REASONS = {
    "breaker": "breaker: nearly every recent item failed",
    "budget": "budget: --max-cost / --max-tokens spent",
    "interrupted": "interrupted: rerun to resume",
    "no_progress": "no_progress: supplement rounds stopped gaining records",
    "plan_exhausted": "plan_exhausted: the plan has no more items",
    "round_limit": "round_limit: max_supplement_rounds reached",
    "short": "short",
}


def render_summary(summary: RunSummary) -> Table:
    """The summary as a rich table."""
    from rich.table import Table

    table = Table(title=f"asyncgen {summary.pipeline}: {summary.status}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    lag = summary.loop_lag
    rows = [
        ("records", f"{summary.done}/{summary.target}"),
        ("failed / rejected", f"{summary.failed} / {summary.rejected}"),
        ("not started / unreplaced", f"{summary.not_started} / {summary.unreplaced}"),
        ("planned", f"{summary.planned} (+{summary.replacements} replacements)"),
        ("success rate", f"{summary.success_rate:.1%}"),
        ("dedup rejects", str(summary.dedup_rejects)),
        ("supplement rounds", f"{summary.supplement_rounds}/{summary.max_supplement_rounds}"),
        (
            "requests / 429s / retries",
            f"{summary.requests} / {summary.rate_limited} / {summary.retries}",
        ),
        ("requests (run)", str(summary.requests_total)),
        ("tokens in / out", f"{summary.tokens_in} / {summary.tokens_out}"),
        (
            "tokens in / out (run)",
            f"{summary.tokens_in_total} / {summary.tokens_out_total}"
            + (f" ({summary.tokens_cached_total} cached)" if summary.tokens_cached_total else ""),
        ),
        ("cost (session / total)", f"${summary.cost_usd:.4f} / ${summary.cost_usd_total:.4f}"),
        (
            "cost per record",
            "-" if summary.cost_per_record is None else f"${summary.cost_per_record:.6f}",
        ),
        ("wall time", fmt_duration(summary.wall_time_s)),
        ("throughput", f"{summary.throughput:.2f} records/s"),
        (
            "loop lag p50/p99/max",
            f"{lag.get('p50_ms', 0)}/{lag.get('p99_ms', 0)}/{lag.get('max_ms', 0)} ms",
        ),
        ("run directory", summary.run_dir),
    ]
    if summary.batch:
        rows.extend(batch_rows(summary.batch))
    rows.extend(_quality_rows(summary))
    if summary.short_reason:
        rows.append(("ended short because", SHORT_REASONS.get(summary.short_reason, "")))
    if summary.error:
        rows.append(("stopped by", summary.error))
    if summary.simulated:
        rows.append(("provider", "simulator (records are simulated)"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _quality_rows(summary: RunSummary) -> list[tuple[str, str]]:
    """The judge's counts and the turn mix (realised against target), when there are any."""
    rows: list[tuple[str, str]] = []
    if summary.quality:
        q = summary.quality
        means = " ".join(f"{k} {v:.2f}" for k, v in (q.get("means") or {}).items())
        rows.append(
            (
                "judged / low quality",
                f"{q.get('judged', 0)} / {q.get('rejected_low_quality', 0)}"
                + (f" ({q['unjudged']} unjudged)" if q.get("unjudged") else ""),
            )
        )
        if means:
            rows.append(("judge means", means))
    latest = (summary.diversity or {}).get("latest")
    if isinstance(latest, dict):
        warned = (summary.diversity or {}).get("warnings", 0)
        rows.append(
            (
                f"diversity (last {latest.get('window')})",
                f"distinct-2 {latest.get('distinct_2', 0):.3f} nn-sim "
                f"{latest.get('nn_similarity_mean', 0):.3f}"
                + (f", {warned} warning(s)" if warned else ""),
            )
        )
    mix = (summary.figures or {}).get("turn_mix")
    if isinstance(mix, dict) and mix.get("records"):
        realised, target = mix.get("realised_pct", {}), mix.get("target_pct", {})
        shares = " ".join(f"{k}:{realised.get(k, 0):.1f}/{v:g}" for k, v in target.items())
        rows.append((f"turns % real/target ({mix.get('policy')})", shares))
    return rows


def earlier_cost(metrics: Path, session: str) -> float:
    """Cost of the earlier sessions of a run: the last metrics line of each one."""
    last: dict[str, float] = {}
    try:
        for _, line in iter_jsonl(metrics):
            other = str(line.get("session", ""))
            if other != session:
                last[other] = float(line.get("cost_usd") or 0.0)
    except StoreError:  # a damaged metrics file costs the total, never the summary
        pass
    return sum(last.values())


def batch_rows(batch: JsonObject) -> list[tuple[str, str]]:
    """Batch mode's lines in the summary: rounds, batches, cost against online prices."""
    saving = float(batch.get("saving_usd") or 0.0)
    online = float(batch.get("cost_usd_at_online_prices") or 0.0)
    share = f" ({saving / online:.0%})" if online > 0 else ""
    rows = [
        ("batch rounds / batches", f"{batch.get('rounds', 0)} / {batch.get('batches', 0)}"),
        (
            "batch cost / at online prices",
            f"${float(batch.get('cost_usd_batch') or 0):.4f} / ${online:.4f}",
        ),
        ("saved against online", f"${saving:.4f}{share}"),
        (
            "resubmitted / online requests",
            f"{batch.get('resubmitted', 0)} / {batch.get('online_requests', 0)}",
        ),
    ]
    if batch.get("fallback_reason"):
        rows.append(("batch fallback", str(batch["fallback_reason"])))
    return rows
