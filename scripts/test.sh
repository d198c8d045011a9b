#!/usr/bin/env bash
# Install headrace with its test dependencies and the TensorFlow extra into .venv and run the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k cache -x
set -euo pipefail
source "$(dirname "$0")/_venv.sh" '[test,tensorflow]'
exec .venv/bin/python -m pytest -n 2 --timeout 600 "$@"
