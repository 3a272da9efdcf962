"""Make a plausible JSON value that satisfies a JSON Schema (the subset structured outputs use).

Used when a request asks for ``response_format: {"type": "json_schema", ...}`` and no
kind-specific responder knows better: objects get every property, arrays 1-3 items,
strings short phrases (or an enum member), numbers within their bounds; ``$ref`` into
``$defs``/``definitions``, ``anyOf``/``oneOf`` (one branch) and ``allOf`` (merged) work.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["fill_schema"]

_WORDS = (
    "clear", "quick", "simple", "careful", "local", "friendly", "useful", "direct",
    "plan", "route", "option", "detail", "answer", "summary", "step", "choice",
)  # fmt: skip
MAX_DEPTH = 8


def fill_schema(schema: Any, rng: random.Random, *, root: Any = None, depth: int = 0) -> Any:
    """A value valid against `schema`, drawn with `rng`."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    root = schema if root is None else root
    if "$ref" in schema:
        return fill_schema(_resolve(root, schema["$ref"]), rng, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return fill_schema(rng.choice(schema[key]), rng, root=root, depth=depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged = _merge(merged, part)
        return fill_schema(merged, rng, root=root, depth=depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _FILLERS.get(kind, _fill_string)(schema, rng, root, depth)


def _resolve(root: Any, ref: str) -> Any:
    node = root
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def _merge(base: dict[str, Any], extra: Any) -> dict[str, Any]:
    if not isinstance(extra, dict):
        return base
    merged = {**base, **extra}
    merged["properties"] = {**base.get("properties", {}), **extra.get("properties", {})}
    merged["required"] = [*base.get("required", []), *extra.get("required", [])]
    return merged


def _fill_object(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> Any:
    properties = schema.get("properties", {})
    return {
        name: fill_schema(sub, rng, root=root, depth=depth + 1) for name, sub in properties.items()
    }


def _fill_array(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> Any:
    low = int(schema.get("minItems", 1))
    high = max(low, min(int(schema.get("maxItems", 3)), low + 2))
    items = schema.get("items", {"type": "string"})
    return [
        fill_schema(items, rng, root=root, depth=depth + 1) for _ in range(rng.randint(low, high))
    ]


def _fill_string(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> Any:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
    text = words[0].upper() + words[1:]
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    return text[: int(high)] if high is not None else text


def _fill_number(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> Any:
    low = float(schema.get("minimum", schema.get("exclusiveMinimum", 0)))
    high = float(schema.get("maximum", schema.get("exclusiveMaximum", low + 10)))
    if schema.get("type") == "integer":
        return rng.randint(int(low), max(int(low), int(high)))
    return round(rng.uniform(low, high), 3)


def _fill_boolean(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> Any:
    return rng.random() < 0.5


def _fill_null(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> Any:
    return None


_Filler = Callable[[dict[str, Any], random.Random, Any, int], Any]
_FILLERS: dict[str, _Filler] = {
    "object": _fill_object,
    "array": _fill_array,
    "string": _fill_string,
    "integer": _fill_number,
    "number": _fill_number,
    "boolean": _fill_boolean,
    "null": _fill_null,
}
