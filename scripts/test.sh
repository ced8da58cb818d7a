#!/usr/bin/env bash
# Set up a virtual environment with every extra (CPU torch) and run the whole test suite.
# Prints progress and errors only: pip runs with -qq (its warnings and setuptools' notes stay quiet).
set -euo pipefail
cd "$(dirname "$0")/.."
# The C++ runtime's build (sean_runtime/cpp): compiler, CMake and the Debian packages it takes. Without
# root (or apt) the C++ tests skip and say which piece is missing.
CPP_PACKAGES=(g++ cmake libpng-dev libjpeg62-turbo-dev libssl-dev nlohmann-json3-dev libgtest-dev librandom123-dev)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for package in "${CPP_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing the C++ build's Debian packages: ${missing[*]} ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
echo "setting up .venv with every extra and CPU torch (a few minutes the first time) ..."
python3 -m venv .venv
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -c constraints/cpu.txt -e '.[train,export,runtime,openvino,serve,dev]'
echo "ruff ..."
.venv/bin/ruff check .
echo "pytest ..."
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
