#!/usr/bin/env bash
# Install headrace into .venv and run the penguin example end to end, then show what it recorded.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" ''  # headrace alone, no extras
.venv/bin/headrace validate examples/penguin/pipeline.yaml
.venv/bin/headrace run examples/penguin/pipeline.yaml
run_id=$(.venv/bin/headrace runs -p examples/penguin/pipeline.yaml --ids | head -1)
.venv/bin/headrace show "$run_id" -p examples/penguin/pipeline.yaml
