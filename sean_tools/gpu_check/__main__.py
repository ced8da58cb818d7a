"""`python -m sean_tools.gpu_check`: the same as `sean gpu-check` (scripts/gpu_check.sh runs it this way)."""

from sean_tools.gpu_check.cli import gpu_check

gpu_check(prog_name="sean gpu-check")
