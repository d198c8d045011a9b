#!/usr/bin/env bash
# Install headrace into .venv and run the penguin example end to end, then show what it recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e . --config-settings editable_mode=strict
.venv/bin/headrace validate examples/penguin/pipeline.yaml
.venv/bin/headrace run examples/penguin/pipeline.yaml
run_id=$(.venv/bin/headrace runs -p examples/penguin/pipeline.yaml --ids | head -1)
.venv/bin/headrace show "$run_id" -p examples/penguin/pipeline.yaml
