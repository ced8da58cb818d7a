#!/usr/bin/env bash
# Set up a virtual environment with every extra (CPU torch) and run the whole test suite.
# Prints progress and errors only: pip runs with -qq (its warnings and setuptools' notes stay quiet).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "setting up .venv with every extra and CPU torch (a few minutes the first time) ..."
python3 -m venv .venv
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -c constraints/cpu.txt -e '.[train,export,runtime,openvino,dev]'
echo "ruff ..."
.venv/bin/ruff check .
echo "pytest ..."
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
