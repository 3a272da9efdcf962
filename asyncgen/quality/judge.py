"""The judge in the loop: score each finished record, reject what falls under the bar.

The worker pool calls `review` between the pipeline's record and the uniqueness gate, so
a rejected record never enters the dedup index and its replacement is planned exactly as
a duplicate's. The judge's calls go through the run's client (transport or batch client),
so the limiter paces them, the ledger bills them (kind `quality_judge`) and the budget
counts them. A judge that cannot score a record (an error, an unusable answer) does not
cost the record unless `keep_unjudged` is off; either way the summary counts it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asyncgen.contract import Reason, Record, Reject
from asyncgen.errors import BudgetExceededError, LLMError
from asyncgen.llm.types import ChatClient, ChatRequest, ModelHandle
from asyncgen.prompts import load_prompt
from asyncgen.quality.transcript import Transcript, transcript

if TYPE_CHECKING:
    from asyncgen.config import RunConfig
    from asyncgen.config.quality import JudgeSettings

KIND = "quality_judge"
GOAL = "goal_completion"
CRITERIA = {
    "persona_adherence": "the user's turns stay in this persona (role, knowledge, tone, habits) "
    "and never contradict it",
    "naturalness": "both sides sound like people, not a script: no repeated or cut-off turns",
    "task_success": "the user's request is understood and handled by the end",
    GOAL: "every slot of the user's goal is expressed and met (or the dialogue says why not)",
}
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
logger = logging.getLogger("asyncgen.quality")


@dataclass
class JudgeCounts:
    """What the judge did this session (summary.json `quality`)."""

    judged: int = 0
    passed: int = 0
    rejected: int = 0
    skipped: int = 0
    unjudged: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)

    def to_dict(self, settings: JudgeSettings, model: str) -> dict[str, Any]:
        """The summary's view: counts, mean score per criterion, the bar."""
        means = {k: round(v / self.judged, 3) for k, v in self.sums.items()} if self.judged else {}
        return {
            "judge": {"model": model, "threshold": settings.threshold},
            "judged": self.judged,
            "passed": self.passed,
            "rejected_low_quality": self.rejected,
            "not_sampled": self.skipped,
            "unjudged": self.unjudged,
            "problems": dict(self.problems),
            "means": means,
        }


class QualityJudge:
    """Scores records through the run's client and decides whether each is kept."""

    def __init__(self, settings: JudgeSettings, handle: ModelHandle) -> None:
        self.settings = settings
        self.handle = handle
        self.counts = JudgeCounts()
        self._template = load_prompt(KIND)

    def summary(self) -> dict[str, Any]:
        """summary.json's `quality` block."""
        return self.counts.to_dict(self.settings, self.handle.model)

    def is_sampled(self, record_id: str) -> bool:
        """Whether this record is in the judged share: a pure function of its id."""
        share = self.settings.sample_share
        if share >= 1:
            return True
        digest = hashlib.blake2b(record_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") / 2**64 < share

    def rubric(self, view: Transcript) -> list[str]:
        """The configured criteria, plus goal completion for a service dialogue."""
        names = list(self.settings.rubric)
        if view.is_dialogue and GOAL not in names:
            names.append(GOAL)
        return names

    def messages(self, record: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
        """The judge prompt for one record, and the criteria it asks for."""
        view = transcript(record)
        names = self.rubric(view)
        persona = view.persona if isinstance(view.persona, str) else _dumps(view.persona)
        example = _dumps({**dict.fromkeys(names, 4), "rationale": "one sentence"})
        prompt = self._template.render(
            persona=persona,
            goal=_dumps(view.goal) if view.goal is not None else "none",
            rubric=_dumps(names),
            conversation=view.lines(),
            criteria="\n".join(f"- {name}: {CRITERIA[name]}" for name in names),
            example=example,
        )
        return [{"role": "user", "content": prompt}], names

    async def review(self, record: Record, client: ChatClient) -> Record | Reject:
        """The record with its scores, or a `low_quality` reject when one is under the bar.

        Raises:
            BudgetExceededError: never; a spent budget leaves the record unjudged (kept).
        """
        if not self.is_sampled(record.id):
            self.counts.skipped += 1
            return record
        messages, names = self.messages(record.data)
        request = ChatRequest(
            messages=messages,
            kind=KIND,
            max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature,
        )
        try:
            result = await client.chat(request, self.handle)
        except (LLMError, BudgetExceededError) as exc:
            return self._unjudged(record, f"{type(exc).__name__}")
        scores = parse_scores(result.content, names)
        if scores is None:
            return self._unjudged(record, "unusable answer")
        return self._decide(record, scores, result.content)

    def _decide(self, record: Record, scores: dict[str, int], raw: str) -> Record | Reject:
        counts = self.counts
        counts.judged += 1
        for name, score in scores.items():
            counts.sums[name] = counts.sums.get(name, 0.0) + score
        threshold = self.settings.threshold
        low = {name: score for name, score in scores.items() if score < threshold}
        data = dict(record.data)
        data["quality"] = {
            "scores": scores,
            "overall": round(sum(scores.values()) / len(scores), 3),
            "passed": not low,
            "model": self.handle.model,
            "judge": {"model": self.handle.model, "threshold": threshold},
        }
        rationale = parse_rationale(raw)
        if rationale:
            data["quality"]["rationale"] = rationale
        if not low:
            counts.passed += 1
            return Record(id=record.id, data=data)
        counts.rejected += 1
        worst = min(low, key=lambda name: low[name])
        return Reject(
            reason=Reason.LOW_QUALITY,
            data=data,
            raw=raw,
            score=float(low[worst]),
            message=", ".join(f"{name} {score} < {threshold:g}" for name, score in low.items()),
        )

    def _unjudged(self, record: Record, problem: str) -> Record | Reject:
        counts = self.counts
        counts.unjudged += 1
        counts.problems[problem] = counts.problems.get(problem, 0) + 1
        if counts.unjudged == 1:
            logger.warning("the judge could not score record %s (%s)", record.id, problem)
        data = dict(record.data)
        data["quality"] = {"scores": {}, "unjudged": problem, "judge": {"model": self.handle.model}}
        if self.settings.keep_unjudged:
            return Record(id=record.id, data=data)
        return Reject(reason=Reason.UNJUDGED, data=data, message=f"the judge failed: {problem}")


def json_object(text: str) -> dict[str, Any] | None:
    """The outermost `{...}` of a judge answer as a dict, or None: judges wrap JSON in prose."""
    match = _JSON_OBJECT.search(text or "")
    try:
        data = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def parse_scores(text: str, names: list[str]) -> dict[str, int] | None:
    """Every asked criterion's 1-5 score from a judge answer, or None when one is missing."""
    data = json_object(text)
    if data is None:
        return None
    scores: dict[str, int] = {}
    for name in names:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 5:
            return None
        scores[name] = int(round(value))
    return scores


def parse_rationale(text: str) -> str | None:
    """The judge's one-sentence `rationale`, when its answer has one."""
    data = json_object(text)
    value = data.get("rationale") if data is not None else None
    return value[:300] if isinstance(value, str) and value.strip() else None


def build_judge(config: RunConfig) -> QualityJudge | None:
    """The run's judge when `quality.judge.enabled`, on `quality.judge.model` or `llm.model`."""
    settings = config.quality.judge
    if not settings.enabled:
        return None
    handle = ModelHandle(provider=config.llm.provider, model=settings.model or config.llm.model)
    return QualityJudge(settings, handle)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
