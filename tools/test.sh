#!/usr/bin/env bash
# The test command: set up (venv, test extras, demo models), lint, run every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test
export EDGE_MODELS_DIR="${EDGE_MODELS_DIR:-$PWD/.cache/models}"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q
