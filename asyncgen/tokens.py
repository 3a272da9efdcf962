"""Token counting shared by the simulator, the transport's TPM reservations, bench and report.

The rule: tiktoken's ``o200k_base`` encoding when tiktoken is importable and its encoding
is in tiktoken's cache (asyncgen never lets tiktoken download it: that would be a request
to the internet, without a timeout, on the event loop of the first model call);
otherwise a fast approximation of one token per four characters,
``ceil(len(text) / 4)``, which tracks English BPE counts within a few percent. A chat
request counts like OpenAI's cookbook: per message 3 tokens plus its role and content,
1 more plus the name when a ``name`` is given, and 3 that prime the reply.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

__all__ = [
    "CHARS_PER_TOKEN",
    "count_message_tokens",
    "count_tokens",
    "token_rule",
    "truncate_to_tokens",
]

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


_O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def _bpe_cached() -> bool:
    """True when tiktoken would read o200k_base from its cache rather than download it
    (its own rule: TIKTOKEN_CACHE_DIR, DATA_GYM_CACHE_DIR, else the temp dir's cache)."""
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir:
        return False  # caching off: tiktoken would download on every load
    key = hashlib.sha1(_O200K_URL.encode()).hexdigest()
    return os.path.exists(os.path.join(cache_dir, key))


# Looked up once, when this module is imported: a count on the event loop never stats a
# file (`load_encoder` reads the BPE itself off the loop, where a run starts).
_BPE_CACHED = _bpe_cached()


@cache
def _encoder() -> Any:
    """The tiktoken encoding, or None when tiktoken is absent or cannot load offline."""
    if not _BPE_CACHED:
        return None
    try:
        tiktoken = importlib.import_module("tiktoken")
        return tiktoken.get_encoding("o200k_base")
    except Exception:  # any failure (not installed, no cached BPE file) means: approximate
        return None


async def load_encoder() -> None:
    """Load the tokenizer in a worker thread now (it reads and parses a BPE file), so the
    first count on the event loop does not. Without a cached BPE there is nothing to load
    (`_encoder` answers None at once) and no thread trip before the first request."""
    if not _BPE_CACHED:
        return
    from asyncgen import offload

    await offload.cpu(_encoder)


def token_rule() -> str:
    """Which rule `count_tokens` uses here: ``"tiktoken:o200k_base"`` or ``"chars/4"``."""
    return "tiktoken:o200k_base" if _encoder() is not None else f"chars/{CHARS_PER_TOKEN}"


def count_tokens(text: str) -> int:
    """Tokens in `text` by the documented rule (tiktoken, else ceil(chars / 4))."""
    encoder = _encoder()
    if encoder is not None:
        return len(encoder.encode(text, disallowed_special=()))
    return -(-len(text) // CHARS_PER_TOKEN)


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` with at most `max_tokens` tokens."""
    if max_tokens <= 0:
        return ""
    encoder = _encoder()
    if encoder is not None:
        ids = encoder.encode(text, disallowed_special=())
        return text if len(ids) <= max_tokens else str(encoder.decode(ids[:max_tokens]))
    return text[: max_tokens * CHARS_PER_TOKEN]


def _content_text(content: Any) -> str:
    """Text of a message's content: a string, or the text parts of a multi-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)


def count_message_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens of a chat request: content and names plus OpenAI's per-message overhead."""
    total = REPLY_PRIMING
    count: Callable[[str], int] = count_tokens
    for message in messages:
        total += TOKENS_PER_MESSAGE + count(str(message.get("role", "")))
        total += count(_content_text(message.get("content")))
        name = message.get("name")
        if name:
            total += TOKENS_PER_NAME + count(str(name))
    return total
