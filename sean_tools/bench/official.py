"""The official implementation's algorithm for the benchmark's "official" rows, read from the checkout.

The loop-based oracle (tests/official_reference.py) is test code, not product: the tests check the
converter and our vectorised networks against it, and `sean bench` times it as the official code. It
ships with the checkout, not the wheel, so from an installed wheel those rows are skipped with this
reason.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from sean_core.errors import NotFoundError

ORACLE = Path(__file__).resolve().parents[2] / "tests" / "official_reference.py"


def official_problem() -> str | None:
    """Why the official rows cannot run here (None: they can)."""
    if ORACLE.is_file():
        return None
    return f"needs the checkout's {ORACLE.parent.name}/{ORACLE.name} (the official algorithm; not in a wheel)"


def official_reference() -> ModuleType:
    """The oracle module (official_encode, official_generate, ...), loaded from its file."""
    problem = official_problem()
    if problem is not None:
        raise NotFoundError(f"the official rows of the benchmark {problem}")
    spec = importlib.util.spec_from_file_location("sean_official_reference", ORACLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
