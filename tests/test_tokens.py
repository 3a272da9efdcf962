"""Token counting: the documented rule, message overhead, truncation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from asyncgen.tokens import count_message_tokens, count_tokens, token_rule, truncate_to_tokens


def test_rule_is_documented_approximation_without_tiktoken() -> None:
    """Without tiktoken installed, a token is about four characters (rounded up)."""
    assert token_rule() == "chars/4"
    assert count_tokens("") == 0
    assert count_tokens("abcd") == 1
    assert count_tokens("abcde") == 2
    assert count_tokens("x" * 400) == 100


def test_message_overhead_follows_openai_cookbook() -> None:
    """Each message adds 3 tokens plus its role; a name adds 1 plus the name; 3 prime the reply."""
    one = [{"role": "user", "content": "abcd"}]
    assert count_message_tokens(one) == 3 + (3 + 1 + 1)
    named = [{"role": "user", "content": "abcd", "name": "bob"}]
    assert count_message_tokens(named) == count_message_tokens(one) + 2


def test_multipart_content_counts_text_parts() -> None:
    """A list of content parts counts the text of its text parts."""
    parts = [{"role": "user", "content": [{"type": "text", "text": "abcd" * 3}]}]
    plain = [{"role": "user", "content": "abcd" * 3}]
    assert count_message_tokens(parts) == count_message_tokens(plain)


@given(st.text(max_size=300), st.integers(min_value=0, max_value=100))
def test_truncation_never_exceeds_the_budget(text: str, budget: int) -> None:
    """A truncated text is a prefix of the original and fits in the token budget."""
    cut = truncate_to_tokens(text, budget)
    assert text.startswith(cut)
    assert count_tokens(cut) <= budget
    if count_tokens(text) <= budget:
        assert cut == text
