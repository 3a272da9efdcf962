"""What a benchmark sends: fixed-length prompts, or requests sampled from a JSONL file."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from asyncgen.errors import DatasetError
from asyncgen.llm.types import ChatRequest
from asyncgen.sim.responders import GENERIC_KIND
from asyncgen.store.jsonl import parse_line
from asyncgen.tokens import count_tokens

_FILLER = (
    "please summarise the main trade offs of caching schedules retries queues and limits "
    "for a service that answers travel questions about trains hotels and restaurants"
).split()
_SAMPLING_KEYS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


class Workload(Protocol):
    """Hands out the next request to send."""

    def next_request(self) -> ChatRequest:
        """A fresh request (callers may mutate it)."""
        ...


def filler_text(tokens: int) -> str:
    """Plain words whose token count (by `asyncgen.tokens.count_tokens`) reaches `tokens`."""
    words: list[str] = []
    i = 0
    while count_tokens(" ".join(words)) < tokens:
        words.append(_FILLER[i % len(_FILLER)])
        i += 1
    return " ".join(words)


@dataclass
class FixedWorkload:
    """Prompts of a fixed token length asking for a fixed number of output tokens.

    Each prompt starts with its own sequence number so a provider's prompt cache cannot
    flatter the figures.
    """

    prompt_tokens: int
    output_tokens: int
    stream: bool = False
    _count: int = 0
    _body: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._body = filler_text(max(1, self.prompt_tokens - 4))

    def next_request(self) -> ChatRequest:
        """The next numbered fixed-length prompt."""
        self._count += 1
        return ChatRequest(
            messages=[{"role": "user", "content": f"#{self._count:07d} {self._body}"}],
            kind=GENERIC_KIND,
            max_tokens=self.output_tokens,
            stream=self.stream,
        )


@dataclass
class FileWorkload:
    """Requests drawn (seeded, with replacement) from a list loaded from JSONL."""

    requests: list[ChatRequest]
    rng: random.Random
    stream: bool = False

    def next_request(self) -> ChatRequest:
        """A copy of a randomly chosen request from the file."""
        chosen = self.rng.choice(self.requests)
        return replace(chosen, messages=list(chosen.messages), stream=self.stream)


def load_prompts(path: str | Path, default_max_tokens: int) -> list[ChatRequest]:
    """Parse a JSONL file of chat request bodies (or `{"messages": ...}` objects).

    Raises:
        DatasetError: the file is missing or empty, or a line is not a usable request.
    """
    file = Path(path)
    try:
        lines = file.read_bytes().splitlines()
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read prompts file ({exc.strerror})") from exc
    out = [
        _parse_line(file, n, line, default_max_tokens)
        for n, line in enumerate(lines, 1)
        if line.strip()
    ]
    if not out:
        raise DatasetError(f"{file}: no requests in prompts file")
    return out


def _parse_line(file: Path, n: int, line: bytes, default_max_tokens: int) -> ChatRequest:
    shape = "an object with a non-empty 'messages' list"
    data = parse_line(line, f"{file}:{n}", DatasetError, expected=shape)
    if isinstance(data.get("body"), dict):
        data = data["body"]
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages or not all(_is_message(m) for m in messages):
        raise DatasetError(f"{file}:{n}: expected {shape}")
    max_tokens = data.get("max_tokens") or data.get("max_completion_tokens") or default_max_tokens
    sampling: dict[str, Any] = {k: data[k] for k in _SAMPLING_KEYS if k in data}
    return ChatRequest(
        messages=[{"role": str(m["role"]), "content": str(m["content"])} for m in messages],
        kind=str(data.get("kind") or GENERIC_KIND),
        max_tokens=int(max_tokens),
        response_format=data.get("response_format"),
        **sampling,
    )


def _is_message(value: object) -> bool:
    return isinstance(value, dict) and "role" in value and "content" in value


def make_workload(
    *,
    prompt_tokens: int,
    output_tokens: int,
    prompts_file: str | None,
    stream: bool,
    seed: int,
) -> Workload:
    """The file workload when a prompts file is given, else the fixed-length one."""
    if prompts_file:
        requests = load_prompts(prompts_file, output_tokens)
        return FileWorkload(requests, random.Random(seed), stream=stream)
    return FixedWorkload(prompt_tokens, output_tokens, stream=stream)
