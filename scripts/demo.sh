#!/usr/bin/env bash
# Set up a virtual environment (CPU torch) and run the main job: `sean demo`.
# Prints progress and errors only: pip runs with -qq (its warnings and setuptools' notes stay quiet).
#
#   bash scripts/demo.sh [SEAN DEMO OPTIONS]    e.g. --checkpoint shapes (the options of `sean demo --help`)
set -euo pipefail
if [[ " $* " == *" -h "* || " $* " == *" --help "* ]]; then
  echo "usage: bash scripts/demo.sh [options of sean demo]: makes .venv (CPU torch), then runs sean demo -o demo-out"
  echo "(sean demo --help lists its options once .venv exists: .venv/bin/sean demo --help)"
  exit 0
fi
cd "$(dirname "$0")/.."
echo "setting up .venv with CPU torch (a few minutes the first time) ..."
python3 -m venv .venv
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -c constraints/cpu.txt -e '.[train,export,runtime,serve]'
.venv/bin/sean demo -o demo-out "$@"
echo "(the sean commands above run in .venv: '. .venv/bin/activate' first, in this shell)"
