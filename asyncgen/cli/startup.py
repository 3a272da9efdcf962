"""What the `asyncgen` command sets up before anything heavy is imported.

pydantic asks `importlib.metadata` for plugins (every installed distribution's entry
points) when the first model is built. A command-line run uses none, so `main` turns the
scan off (PYDANTIC_DISABLE_PLUGINS, unless the user set it). Importing the module that
would scan still loads `importlib.metadata` and the email parser (~12-16 ms of CPU before
the first request), so while the scan is off that module is served by a finder here:
its `get_plugins()` returns what the real one returns with every plugin disabled, and any
other name is read from the real module.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader  # not imported at run time: it loads more than we save

PLUGIN_LOADER = "pydantic.plugin._loader"


def skip_pydantic_plugins() -> None:
    """No pydantic plugin scan in this process (unless PYDANTIC_DISABLE_PLUGINS says else)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if not any(isinstance(finder, _NoPluginScan) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NoPluginScan())


class _NoPluginScan:
    """A meta path finder and loader for pydantic's plugin loader, while plugins are off."""

    def find_spec(
        self, name: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != PLUGIN_LOADER or os.environ.get("PYDANTIC_DISABLE_PLUGINS") != "__all__":
            return None
        return importlib.machinery.ModuleSpec(name, cast("Loader", self), is_package=False)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        def get_plugins() -> tuple[()]:
            return ()

        def __getattr__(name: str) -> Any:
            if name.startswith("__"):  # the import system asking (`__path__`), not pydantic
                raise AttributeError(name)
            return getattr(_real_loader(), name)

        module.get_plugins = get_plugins  # type: ignore[attr-defined]
        module.__getattr__ = __getattr__  # type: ignore[method-assign]


def _real_loader() -> ModuleType:
    """pydantic's own plugin loader, loaded beside the stand-in (not in its place)."""
    parent = sys.modules["pydantic.plugin"]
    spec = importlib.machinery.PathFinder.find_spec(PLUGIN_LOADER, parent.__path__)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot find {PLUGIN_LOADER}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
