#!/usr/bin/env bash
# The test command: set up (venv, test extras, demo models), lint, run every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/system-deps.sh
tools/setup.sh test,quantize
venv="${EDGE_VENV:-.venv}"
export EDGE_MODELS_DIR="${EDGE_MODELS_DIR:-$PWD/.cache/models}"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
make -C firmware_bridge/firmware test
"$venv/bin/python" -m pytest -q
