#!/usr/bin/env bash
# Quickstart: set up, then translate the bundled Spanish sample into English speech.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export EDGE_MODELS_DIR="${EDGE_MODELS_DIR:-$PWD/.cache/models}"
.venv/bin/edge translate samples/es_station.flac --from es --to en -o es_station.en.wav
echo "translated speech: $PWD/es_station.en.wav"
