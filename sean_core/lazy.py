"""Package-root names imported on first use (PEP 562), so that importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `exports[name]` (a module path) when `name` is first asked for."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def lazy_dir(namespace: Mapping[str, Any], exports: dict[str, str]) -> Callable[[], list[str]]:
    """A module `__dir__` that lists the lazy names with the module's own (`namespace`: its globals()).

    Without it dir(), tab completion and help() see only what the module imported itself, never its public
    API; listing the names imports nothing (help() does, as it reads each name's docstring).
    """

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __dir__
