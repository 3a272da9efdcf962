"""The base every settings model shares: unknown keys are errors, not silence; a frozen
config refuses every assignment.

The settings modules do without `from __future__ import annotations`: pydantic would turn
every annotation string back into a type when each model class is built (~6 ms of every
start-up, before the first request).
"""

import copy
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, PrivateAttr

from asyncgen.errors import ConfigFrozenError


class Settings(BaseModel):
    """A settings model that forbids unknown keys and validates on assignment.

    `freeze()` makes it (and every settings model inside it) read-only: the engine
    freezes the effective config when a run starts, so nothing can change a setting
    the run was planned, fingerprinted and snapshotted with. `model_copy` returns a
    thawed copy (a deep copy entirely; a shallow one still shares frozen sections).
    """

    # defer_build: a section's own validator and serializer are built at its first
    # standalone use (an assignment, `model_validate`), not when its class is: loading a
    # config validates and dumps through `RunConfig`'s alone, so ~30 sections' were built
    # for nothing (~6 ms of CPU before every run's first request)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)
    _frozen: bool = PrivateAttr(default=False)

    @property
    def is_frozen(self) -> bool:
        """True once `freeze()` was called on this model or one holding it."""
        private = getattr(self, "__pydantic_private__", None)
        return bool(private and private.get("_frozen"))

    def freeze(self) -> Self:
        """Make this model, every settings model it holds and its lists and dicts
        read-only; returns self."""
        for name, value in list(self.__dict__.items()):
            self.__dict__[name] = _frozen(value)
        self._set_frozen(True)
        return self

    def model_copy(self, *, update: Any = None, deep: bool = False) -> Self:
        """A copy that may be changed (settings copied from a frozen config start thawed)."""
        copied = super().model_copy(update=update, deep=deep)
        if deep:
            for value in copied.__dict__.values():
                _thaw(value)
        copied._set_frozen(False)
        return copied

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_frozen" and self.is_frozen:
            raise ConfigFrozenError(
                f"{type(self).__name__}.{name}: the config is frozen while a run uses it "
                "(build the effective config before the run starts)"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if self.is_frozen:
            raise ConfigFrozenError(f"{type(self).__name__}.{name}: the config is frozen")
        super().__delattr__(name)

    def _set_frozen(self, frozen: bool) -> None:
        super().__setattr__("_frozen", frozen)


def require_values(model: BaseModel, *names: str) -> None:
    """Refuse an empty list or mapping under any of `names`: something is drawn from each.

    Raises:
        ValueError: naming the first empty field (pydantic reports it as a config error).
    """
    for name in names:
        if not getattr(model, name):
            raise ValueError(f"{name} must list at least one value")


def require_weights(model: BaseModel, *names: str) -> None:
    """Refuse weights under any of `names` that are negative or sum to nothing.

    Raises:
        ValueError: naming the first field whose weights cannot drive a draw.
    """
    for name in names:
        weights: dict[Any, float] = getattr(model, name)
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"{name} needs non-negative weights with a positive sum")


def _frozen(value: Any) -> Any:
    """`value` made read-only: settings frozen, lists and dicts replaced by frozen ones."""
    if isinstance(value, Settings):
        return value.freeze()
    if isinstance(value, list):
        return FrozenList(_frozen(inner) for inner in value)
    if isinstance(value, dict):
        return FrozenDict((key, _frozen(inner)) for key, inner in value.items())
    return value


def _refuse(self: Any, *args: Any, **kwargs: Any) -> None:
    raise ConfigFrozenError(f"a {type(self).__name__[6:].lower()} in the config: it is frozen")


class FrozenList(list[Any]):
    """A list in a frozen config: reads as a list, refuses every change; copies and
    pickles as a plain (thawed) list."""

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return copy.deepcopy(list(self), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


class FrozenDict(dict[Any, Any]):
    """A dict in a frozen config: reads as a dict, refuses every change; copies and
    pickles as a plain (thawed) dict."""

    pop = popitem = clear = update = setdefault = _refuse  # type: ignore[assignment]
    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return copy.deepcopy(dict(self), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


def _thaw(value: Any) -> None:
    """Thaw every settings model reachable through fields, lists and dicts (of a deep copy,
    whose lists and dicts are plain again)."""
    if isinstance(value, Settings):
        for inner in value.__dict__.values():
            _thaw(inner)
        value._set_frozen(False)
    elif isinstance(value, list | tuple):
        for inner in value:
            _thaw(inner)
    elif isinstance(value, dict):
        for inner in value.values():
            _thaw(inner)
