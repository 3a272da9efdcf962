"""Request bodies are checked the way OpenAI checks them, naming the bad parameter."""

from __future__ import annotations

import orjson
import pytest

from asyncgen.sim.request import RequestError, parse_chat_call

GOOD = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _parse(**changes: object) -> object:
    return parse_chat_call(orjson.dumps({**GOOD, **changes}))


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "ten"}, "max_tokens"),
        ({"max_completion_tokens": -1}, "max_completion_tokens"),
        ({"stream": "yes"}, "stream"),
        ({"stream": True, "stream_options": "usage"}, "stream_options"),
    ],
)
def test_bad_fields_name_their_param(changes: dict[str, object], param: str) -> None:
    """Each invalid field is refused with its own name as `param`."""
    with pytest.raises(RequestError) as info:
        _parse(**changes)
    assert info.value.param == param


def test_not_json_is_refused() -> None:
    """A body that is not JSON is refused without a param."""
    with pytest.raises(RequestError, match="parse the JSON"):
        parse_chat_call(b"{nope")


def test_max_completion_tokens_wins_and_usage_only_when_asked() -> None:
    """max_completion_tokens is read first; a stream has a usage chunk only when
    stream_options.include_usage is true (OpenAI's rule)."""
    call = parse_chat_call(
        orjson.dumps({**GOOD, "max_completion_tokens": 7, "max_tokens": 99, "stream": True})
    )
    assert call.max_tokens == 7 and call.stream and not call.include_usage
    on = parse_chat_call(orjson.dumps({**GOOD, "stream_options": {"include_usage": True}}))
    assert on.include_usage
