"""Starting a benchmark process: `python -m MODULE` with its JSON on stdin, BLAS / OpenMP limited to the
threads of the run, and its JSON answer (or why there is none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_process(module: str, payload: str, threads: int, timeout_s: float) -> dict[str, Any]:
    """`python -m module` with payload on its stdin and BLAS / OpenMP limited to `threads`; the JSON object
    on the last line of its stdout, or {"error": why}."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    try:
        done = subprocess.run(
            [sys.executable, "-m", module],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout_s:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"error": f"worker exited with {done.returncode}: {tail}"}
    return json.loads(lines[-1])
