"""The one ask → parse → repair loop: re-asks show the bad answer, back off, then give up."""

from __future__ import annotations

import pytest

from asyncgen.llm.ask import ask
from asyncgen.llm.types import ChatRequest, ChatResult, Message, ModelHandle


class Scripted:
    """Answers from a list, remembering every request's messages."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.seen: list[list[Message]] = []

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        self.seen.append(list(request.messages))
        content = self.answers[len(self.seen) - 1]
        return ChatResult(content, "m", "p", "stop", 1, 1, 0.0)


def _number(text: str) -> int:
    return int(text)


def _repair(raw: str, error: Exception) -> list[Message]:
    return [{"role": "assistant", "content": raw}, {"role": "user", "content": f"fix: {error}"}]


async def test_a_bad_answer_is_re_asked_with_it_and_its_error_after_the_backoff() -> None:
    client = Scripted(["nope", "still no", "42"])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    first = [{"role": "user", "content": "a number"}]
    answer = await ask(
        client, ChatRequest(messages=first), None, parse=_number, invalid=ValueError,
        repair=_repair, max_retries=3, backoff=lambda k: 0.5 * 2 ** (k - 1), sleep=sleep,
    )  # fmt: skip
    assert (answer.value, answer.raw, answer.calls) == (42, "42", 3)
    assert waits == [0.5, 1.0]
    assert client.seen[0] == first
    assert client.seen[2][:2] == [*first, {"role": "assistant", "content": "still no"}]
    assert client.seen[2][2]["content"].startswith("fix: invalid literal")


async def test_still_bad_after_the_retries_raises_the_last_error() -> None:
    client = Scripted(["a", "b"])
    with pytest.raises(ValueError, match="'b'"):
        await ask(
            client, ChatRequest(messages=[]), None, parse=_number, invalid=ValueError,
            repair=_repair, max_retries=1,
        )  # fmt: skip
    assert len(client.seen) == 2


def test_set_testing_as_a_context_manager_restores_the_setting() -> None:
    """`with set_testing():` is instant backoff inside and the old setting after."""
    from asyncgen.llm.retry import is_testing, set_testing

    before = is_testing()
    with set_testing():
        assert is_testing()
        with set_testing(False):
            assert not is_testing()
        assert is_testing()
    assert is_testing() == before
