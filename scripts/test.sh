#!/usr/bin/env bash
# Install headrace with its test dependencies into .venv and run the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k cache -x
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=strict
exec .venv/bin/python -m pytest -n 2 --timeout 600 "$@"
