"""This machine's processor as Linux describes it (/proc/cpuinfo): its name, and whether it has the units
that compute in bf16. Without them PyTorch emulates bf16 arithmetic in fp32, much slower than fp32 itself;
OpenVINO asks its own plugin instead (sean_runtime.backends.openvino)."""

from __future__ import annotations

import platform
from collections.abc import Collection
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The x86 flags, as Linux names them, of the units that multiply bf16: AVX-512 BF16 and AMX's bf16 tiles.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_UNITS = "AVX-512 BF16 or AMX"  # the same units as the processor makers name them, for messages


def _first_value(field: str) -> str | None:
    """The value of `field` for the first processor in CPUINFO (every processor lists the same), or None
    where the file or the field is absent (another operating system or architecture)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip() == field:
            return value.strip()
    return None


def cpu_name() -> str:
    """The processor's model name ("unknown" where neither Linux nor Python's platform module says)."""
    return _first_value("model name") or platform.processor() or "unknown"


def cpu_flags() -> frozenset[str] | None:
    """The processor's x86 instruction-set flags; None where Linux lists none (another operating system or
    architecture): unknown, not "no flags"."""
    flags = _first_value("flags")
    return None if flags is None else frozenset(flags.split())


def has_bf16_units(flags: Collection[str]) -> bool:
    """Whether a processor with these x86 flags (cpu_flags) computes bf16 on units of its own."""
    return any(flag in flags for flag in BF16_FLAGS)
