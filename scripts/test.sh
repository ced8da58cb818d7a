#!/usr/bin/env bash
# Set up a virtual environment with every extra (CPU torch) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints/cpu.txt -e '.[train,export,runtime,openvino,serve,dev]'
.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
