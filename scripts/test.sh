#!/usr/bin/env bash
# Set up a virtual environment with every extra (CPU torch) and run the whole test suite.
# Prints progress and errors only: pip runs with -qq (its warnings and setuptools' notes stay quiet).
#
#   bash scripts/test.sh [PYTEST OPTIONS]       e.g. -m "not slow" (the fast lane), -k serve
set -euo pipefail
if [[ " $* " == *" -h "* || " $* " == *" --help "* ]]; then
  echo "usage: bash scripts/test.sh [pytest options]: makes .venv with every extra (CPU torch), runs ruff and pytest"
  exit 0
fi
cd "$(dirname "$0")/.."
# Debian packages the tests need, installed when this runs as root: the C++ runtime's build
# (sean_runtime/cpp), Chromium for the editor's browser tests and prometheus for its promtool, which lints
# `sean serve`'s /metrics. Without them those tests skip and say which piece is missing.
CPP_PACKAGES=(g++ cmake libpng-dev libjpeg62-turbo-dev libssl-dev nlohmann-json3-dev libgtest-dev librandom123-dev)
BROWSER_PACKAGES=(chromium chromium-driver)
METRICS_PACKAGES=(prometheus)
missing_packages() {
  for package in "$@"; do dpkg -s "$package" >/dev/null 2>&1 || echo "$package"; done
}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  mapfile -t missing < <(missing_packages "${CPP_PACKAGES[@]}" "${BROWSER_PACKAGES[@]}" "${METRICS_PACKAGES[@]}")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages for the C++, browser and metrics tests: ${missing[*]} ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "could not install ${missing[*]}: the tests that need them will be skipped" >&2
    # The package enables a Prometheus server on :9090 where systemd runs; the tests want only promtool.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
      systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
  fi
fi
echo "setting up .venv with every extra and CPU torch (a few minutes the first time) ..."
python3 -m venv .venv
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -c constraints/cpu.txt -e '.[train,export,runtime,openvino,serve,triton,browser,dev]'
echo "ruff ..."
.venv/bin/ruff check .
echo "pytest ..."
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 "$@"
