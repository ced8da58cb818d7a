#!/usr/bin/env bash
# Set up a virtual environment (CPU torch) and run the main job: `sean demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints/cpu.txt -e '.[train,export,runtime]'
.venv/bin/sean demo -o demo-out "$@"
