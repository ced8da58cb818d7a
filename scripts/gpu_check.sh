#!/usr/bin/env bash
# The GPU check (docs/gpu.md): training, kill -9 / --resume, `sean eval`, `sean export` and the timings
# of the official-size model on a CUDA GPU, in one run; one table on stdout, gpu_check.json in the out
# folder. Runs from a checkout, installed or not.
#
#   scripts/gpu_check.sh [--device cuda|cpu] [--tiny] [--out DIR] [--parts train,resume,export,tests,speed]
#       --out defaults to $OUT when set. `--device cpu --tiny` is the dry run the test suite does.
#
# Python: $PYTHON, else the checkout's .venv, else python3 (a GPU machine's CUDA PyTorch).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$repo:$repo/plugins${PYTHONPATH:+:$PYTHONPATH}"

# A checkout that was never installed has no package metadata, so the `sean` subcommands the check
# starts (train, eval, export) and the domain plugins would not be found: their entry points are then
# read from pyproject.toml into a metadata folder of this run.
if ! "$python" -c 'import importlib.metadata as m, sys; sys.exit(not m.entry_points(group="sean.commands"))' 2>/dev/null; then
  meta="$(mktemp -d)"
  trap 'rm -rf "$meta"' EXIT
  "$python" - "$meta" <<'PY'
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
info = Path(sys.argv[1]) / f"sean_deploy-{project['version']}.dist-info"
info.mkdir()
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: sean-deploy\nVersion: {project['version']}\n")
groups = project.get("entry-points", {})
(info / "entry_points.txt").write_text(
    "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n" for group, points in groups.items())
)
PY
  export PYTHONPATH="$PYTHONPATH:$meta"
fi

missing="$("$python" - <<'PY'
import importlib.util
needed = ["torch", "numpy", "click", "yaml", "tqdm", "safetensors", "cv2", "onnx", "onnxscript", "onnxruntime", "pytest"]
print(" ".join(m for m in needed if importlib.util.find_spec(m) is None))
PY
)"
if [[ -n "$missing" ]]; then
  for module in torch numpy click yaml; do  # what the check itself runs on: without one no part can start
    if [[ " $missing " == *" $module "* ]]; then
      echo "gpu_check.sh: $python lacks $missing; the check needs torch, numpy, click and pyyaml to start (set PYTHON to an interpreter that has them)" >&2
      exit 2
    fi
  done
  echo "gpu_check.sh: $python lacks: $missing (the parts that need them will fail and say so)" >&2
fi
"$python" -m sean_tools.gpu_check "$@"  # not exec: the EXIT trap removes the metadata folder
