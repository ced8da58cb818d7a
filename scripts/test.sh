#!/usr/bin/env bash
# Set up a virtual environment with every extra (CPU torch) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The editor's browser tests (tests/test_editor.py) drive Debian's Chromium; they skip without it.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null \
        || echo "could not install chromium + chromium-driver: the browser tests will be skipped" >&2
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints/cpu.txt -e '.[train,export,runtime,openvino,serve,browser,dev]'
.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
