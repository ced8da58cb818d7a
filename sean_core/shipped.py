"""What ships inside the distribution, addressable by name from any directory after any install.

- training configs: `sean train --config shapes` (the files of the checkout's configs/, shipped as
  `sean_core/configs/*.yaml`; sean_core/configs is a link to configs/),
- pretrained models: `sean export shapes`, `sean eval shapes` (`sean_core/pretrained/<name>/`).

Both are package data of sean_core (the base every install has, a serving-only one too), found through
importlib.resources, so an editable install and a wheel install find the same files. A value that
names an existing path is always that path; only a value that is no path is looked up as a name.
numpy-free and torch-free.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from sean_core.errors import NotFoundError

DATA_PACKAGE = "sean_core"
CONFIG_SUFFIX = ".yaml"


def _data_dir(name: str) -> Path:
    return Path(str(importlib.resources.files(DATA_PACKAGE) / name))


def shipped_configs() -> dict[str, Path]:
    """Config name (file stem) -> the shipped YAML file."""
    folder = _data_dir("configs")
    return {p.stem: p for p in sorted(folder.glob(f"*{CONFIG_SUFFIX}"))} if folder.is_dir() else {}


def shipped_models() -> dict[str, Path]:
    """Model name -> the shipped checkpoint folder."""
    folder = _data_dir("pretrained")
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(("_", "."))}


def _lookup(value: str | Path, shipped: dict[str, Path], what: str) -> Path:
    path = Path(value).expanduser()
    if path.exists():
        return path
    if str(value) in shipped:
        return shipped[str(value)]
    known = ", ".join(shipped) or "none"
    raise NotFoundError(f"{value} does not exist, and it is not the name of a shipped {what} (shipped: {known})")


def find_config(value: str | Path) -> Path:
    """An existing YAML path, or the shipped config of that name ('shapes'); else NotFoundError."""
    return _lookup(value, shipped_configs(), "config")


def find_model(value: str | Path) -> Path:
    """An existing folder, or the shipped model of that name ('shapes'); else NotFoundError."""
    return _lookup(value, shipped_models(), "model")


def is_shipped(path: Path) -> bool:
    """True for a file or folder inside the installed package data (never write there)."""
    root = _data_dir("").resolve()
    return path.resolve().is_relative_to(root)
