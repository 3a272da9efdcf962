"""Precise subclasses of the asyncgen error tree, so retries and counters can tell causes apart.

LLMStatusError
├── AuthenticationError   401/403: the key is missing, wrong or lacks access
└── ContextLengthError    400: the prompt plus max_tokens exceed the model's context
LLMResponseError
├── MalformedAnswerError  the body is not the chat-completions JSON
├── EmptyAnswerError      the answer has no content
└── TruncatedAnswerError  finish_reason "length" where a complete answer was required
"""

from __future__ import annotations

from asyncgen.errors import LLMResponseError, LLMStatusError

__all__ = [
    "AuthenticationError",
    "ContextLengthError",
    "EmptyAnswerError",
    "MalformedAnswerError",
    "TruncatedAnswerError",
]


class AuthenticationError(LLMStatusError):
    """401/403: fix the key in the environment variable the message names."""


class ContextLengthError(LLMStatusError):
    """The request does not fit the model's context window; retrying cannot help."""


class MalformedAnswerError(LLMResponseError):
    """The body could not be parsed as a chat completion."""


class EmptyAnswerError(LLMResponseError):
    """The completion carried no text."""


class TruncatedAnswerError(LLMResponseError):
    """The answer stopped at max_tokens although the caller needs it whole."""
