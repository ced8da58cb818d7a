"""The install command for an extra, as it works for *this* installation.

The distribution is not on a package index, so `pip install 'sean-deploy[export]'` would fail. pip
records where an installation came from (PEP 610 `direct_url.json`): a checkout installed editable or
as a folder, or a wheel file. The command repeats that source with the extra added, run by this very
interpreter, so it lands in the environment that lacks the extra.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "sean-deploy"
CPU_CONSTRAINTS = Path("constraints") / "cpu.txt"  # in a checkout: pins the CPU build of torch

# The optional modules each extra brings (pyproject.toml names their distributions).
EXTRA_MODULES = {
    "train": ("torch", "safetensors"),
    "export": ("torch", "safetensors", "onnx", "onnxscript"),
    "runtime": ("onnxruntime",),
    "tensorrt": ("tensorrt", "cuda"),
    "tensorrt-cu12": ("tensorrt", "cuda"),
    "tensorrt-cu13": ("tensorrt", "cuda"),
    "openvino": ("openvino",),
    "serve": ("aiohttp", "prometheus_client"),
    "triton": ("tritonclient",),
    "browser": ("selenium",),
}
# Optional module -> the smallest extra that installs it.
EXTRA_OF_MODULE = {m: extra for extra, modules in reversed(EXTRA_MODULES.items()) for m in modules}
# What to know about an extra beyond its install command.
EXTRA_NOTES = {
    "runtime": " (or the [runtime-gpu] extra on a GPU machine; never both)",
    "tensorrt": (
        " (on a machine with an NVIDIA GPU and driver; CUDA 12 builds, driver R535+: the 'tensorrt-cu13' extra "
        "for CUDA 13 on driver R580+)"
    ),
}


def installed_version() -> str:
    """This installation's sean-deploy version ("unknown" when it runs from a checkout that is not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def _shown(path: Path | str) -> str:
    """A path relative to the working directory when it lies below it, else absolute (links kept: a
    venv's python is a link to the base interpreter, and only the link runs in the venv)."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def _source() -> tuple[str, Path] | None:
    """("editable" | "folder" | "wheel", path) this installation came from, when it is still there."""
    # A source tree on sys.path can hold build metadata (*.egg-info) of its own, without direct_url.json:
    # the installed distribution is the one pip recorded the origin of.
    texts = [d.read_text("direct_url.json") for d in metadata.distributions(name=DISTRIBUTION)]
    try:
        record = next((json.loads(text) for text in texts if text), None)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not str(record.get("url", "")).startswith("file://"):
        return None
    path = Path(unquote(urlparse(record["url"]).path))
    if not path.exists():
        return None
    if "dir_info" in record:
        return ("editable" if record["dir_info"].get("editable") else "folder"), path
    return "wheel", path


def install_command(extra: str) -> str:
    """One shell command that adds `extra` to this installation (see the module docstring)."""
    python = _shown(sys.executable) if os.sep in sys.executable else sys.executable
    pip = f"{shlex.quote(python)} -m pip install"
    pulls_torch = "torch" in EXTRA_MODULES.get(extra, ())  # a bare `torch` is a multi-GB CUDA build
    source = _source()
    if source is None:
        pin = f" -c {CPU_CONSTRAINTS}" if pulls_torch else ""
        return (
            f"pip install{pin} -e '.[{extra}]' in a {DISTRIBUTION} checkout "
            f"(or pip install 'sean_deploy-<version>-py3-none-any.whl[{extra}]')"
        )
    kind, path = source
    target = shlex.quote(f"{_shown(path)}[{extra}]")
    if kind == "wheel":
        command = f"{pip} {target}"
        if pulls_torch:
            command += f" (on a CPU machine add -c {CPU_CONSTRAINTS} of the {DISTRIBUTION} source: the CPU torch)"
        return command
    constraints = path / CPU_CONSTRAINTS
    pin = f" -c {shlex.quote(_shown(constraints))}" if pulls_torch and constraints.is_file() else ""
    return f"{pip}{pin}{' -e' if kind == 'editable' else ''} {target}"


def extra_of(module: str) -> str | None:
    """The extra that installs a module (its top-level name counts), or None when no extra does."""
    return EXTRA_OF_MODULE.get(module.split(".")[0])


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that this environment cannot import (found without importing them)."""
    return [m for m in EXTRA_MODULES[extra] if importlib.util.find_spec(m) is None]


def missing_module_message(module: str, needed_by: str, extra: str | None = None) -> str:
    """'<needed_by> needs <module> (the '<extra>' extra), which is not installed: <command>'.

    extra: the extra to install (default: the smallest one that has the module, EXTRA_OF_MODULE).
    """
    top = module.split(".")[0]
    extra = extra or EXTRA_OF_MODULE[top]
    return (
        f"{needed_by} needs {top} (the '{extra}' extra), which is not installed: "
        f"{install_command(extra)}{EXTRA_NOTES.get(extra, '')}"
    )
