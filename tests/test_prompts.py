"""Prompt templates: every shipped file loads, declares a kind, and renders."""

from __future__ import annotations

import pytest

from asyncgen.errors import PromptError
from asyncgen.prompts import list_prompts, load_prompt


def test_every_prompt_declares_a_kind_and_renders() -> None:
    """Each template in prompts/ has a kind and renders with its own fields."""
    for template in list_prompts():
        assert template.kind
        text = template.render(**{name: f"<{name}>" for name in template.fields})
        assert text.strip()


def test_missing_field_is_a_prompt_error() -> None:
    """Rendering without a field names the field."""
    for template in list_prompts():
        if template.fields:
            with pytest.raises(PromptError, match=sorted(template.fields)[0]):
                template.render()
            return


def test_unknown_prompt_is_a_prompt_error() -> None:
    """Loading a template that does not exist is a PromptError."""
    with pytest.raises(PromptError):
        load_prompt("no_such_prompt")
