#!/usr/bin/env bash
# Quickstart: set up, then translate the bundled English sample into Portuguese speech with
# real models: Moonshine tiny (ASR) -> Bergamot en->pt student (MT) -> espeak-ng Portuguese.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
venv="${EDGE_VENV:-.venv}"
export EDGE_MODELS_DIR="${EDGE_MODELS_DIR:-$PWD/.cache/models}"
"$venv/bin/edge" translate samples/en_station.flac --from en --to pt -o en_station.pt.wav
echo "translated speech: $PWD/en_station.pt.wav"
