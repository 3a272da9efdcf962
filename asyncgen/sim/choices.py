"""The choices of one answer: `n` of them, cut at `stop`, tool calls, logprobs, content faults.

The first choice is the request's own answer (computed before admission, for the token
charge); choice i > 0 is the answer to the same request with variant i (a different
seed, the same responder). `stop` cuts a choice before the first stop sequence
(finish_reason "stop", as OpenAI: the sequence itself is not returned). With `tools`, the
model calls a tool when `tool_choice` is "required" or names a function, and under "auto"
(the default) when the last message is the user's; the arguments are built from the
function's JSON schema. `logprobs` gives each content piece a seeded log-probability
(and `top_logprobs` alternatives) in OpenAI's shape. Content faults reshape every choice.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import orjson

from asyncgen.sim.content import Answer, Answerer
from asyncgen.sim.request import ChatCall
from asyncgen.sim.schema_fill import fill_schema
from asyncgen.tokens import count_tokens, truncate_to_tokens

__all__ = ["REFUSAL_TEXT", "Choice", "build_choices", "reshape"]

PIECE = re.compile(r"\S+\s*|\s+")
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass
class Choice:
    """One choice of a chat completion."""

    content: str | None
    finish_reason: str
    completion_tokens: int
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    logprobs: dict[str, Any] | None = None

    def message(self) -> dict[str, Any]:
        """The ``message`` object of a whole answer."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.content,
            "refusal": self.refusal,
        }
        if self.tool_calls is not None:
            message["tool_calls"] = self.tool_calls
        return message


def build_choices(
    answerer: Answerer, kind: str, call: ChatCall, first: Answer, request_id: str
) -> list[Choice]:
    """Every choice the request asked for (`n`), shaped by stop, tools and logprobs."""
    answers = [first]
    for variant in range(1, call.n):
        answers.append(
            answerer.answer(
                kind,
                call.messages,
                model=call.model,
                max_tokens=call.max_tokens,
                params=call.params,
                variant=variant,
            )
        )
    calls_tool = _calls_tool(call)
    choices = []
    for index, answer in enumerate(answers):
        if calls_tool:
            choices.append(_tool_choice(call, request_id, index))
            continue
        choice = Choice(answer.content, answer.finish_reason, answer.completion_tokens)
        if call.stop:
            _apply_stop(choice, call.stop)
        if call.logprobs and choice.content:
            choice.logprobs = _logprobs(choice.content, call.top_logprobs, request_id, index)
        choices.append(choice)
    return choices


def reshape(choices: list[Choice], fault: str | None, call: ChatCall, request_id: str) -> None:
    """Apply a content fault to every choice (in place)."""
    for index, choice in enumerate(choices):
        if fault == "empty_content":
            choice.content, choice.finish_reason, choice.completion_tokens = "", "stop", 0
        elif fault == "truncate_length":
            _cut(choice, max(0, choice.completion_tokens // 2), "length")
        elif fault == "content_filter":
            choice.content, choice.finish_reason, choice.completion_tokens = (
                None,
                "content_filter",
                0,
            )
        elif fault == "content_filter_partial":
            _cut(choice, max(1, choice.completion_tokens // 3), "content_filter")
        elif fault == "refusal":
            choice.content, choice.refusal, choice.finish_reason = None, REFUSAL_TEXT, "stop"
            choice.completion_tokens = count_tokens(REFUSAL_TEXT)
        elif fault == "tool_calls":
            choices[index] = _tool_choice(call, request_id, index)
        else:
            continue
        choices[index].logprobs = None


def _cut(choice: Choice, keep: int, finish: str) -> None:
    text = truncate_to_tokens(choice.content or "", keep)
    choice.content, choice.finish_reason, choice.completion_tokens = (
        text,
        finish,
        count_tokens(text),
    )


def _apply_stop(choice: Choice, stops: tuple[str, ...]) -> None:
    text = choice.content or ""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    if cut >= 0:
        choice.content = text[:cut]
        choice.finish_reason = "stop"
        choice.completion_tokens = count_tokens(choice.content)


def _calls_tool(call: ChatCall) -> bool:
    if not call.tools:
        return False
    choice = call.tool_choice
    if choice == "none":
        return False
    if choice == "required" or isinstance(choice, dict):
        return True
    return call.messages[-1].get("role") == "user"


def _tool_choice(call: ChatCall, request_id: str, index: int) -> Choice:
    """A tool call with null content, its arguments filled from the function's schema."""
    function = _chosen_function(call)
    rng = random.Random(f"{request_id}:{index}:tool")
    arguments = orjson.dumps(
        fill_schema(function.get("parameters") or _NO_PARAMETERS, rng)
    ).decode()
    tool_call = {
        "id": f"call_{request_id[-10:]}{index}",
        "type": "function",
        "function": {"name": str(function.get("name", "tool")), "arguments": arguments},
    }
    return Choice(None, "tool_calls", count_tokens(arguments) + 3, tool_calls=[tool_call])


def _chosen_function(call: ChatCall) -> dict[str, Any]:
    tools = call.tools or [{"function": {"name": "lookup", "parameters": _NO_PARAMETERS}}]
    wanted = call.tool_choice
    if isinstance(wanted, dict):
        name = (wanted.get("function") or {}).get("name")
        for tool in tools:
            if tool["function"].get("name") == name:
                return dict(tool["function"])
    return dict(tools[0]["function"])


def _logprobs(content: str, top: int, request_id: str, index: int) -> dict[str, Any]:
    """OpenAI's ``logprobs`` object: one entry per content piece."""
    rng = random.Random(f"{request_id}:{index}:logprobs")
    entries = []
    for piece in PIECE.findall(content):
        logprob = -round(rng.expovariate(4.0), 6)
        alternatives = [
            {
                "token": piece if rank == 0 else f"{piece.strip()}{rank}",
                "logprob": logprob if rank == 0 else logprob - round(rng.uniform(0.5, 4), 6),
                "bytes": list((piece if rank == 0 else f"{piece.strip()}{rank}").encode()),
            }
            for rank in range(top)
        ]
        entries.append(
            {
                "token": piece,
                "logprob": logprob,
                "bytes": list(piece.encode()),
                "top_logprobs": alternatives,
            }
        )
    return {"content": entries, "refusal": None}
