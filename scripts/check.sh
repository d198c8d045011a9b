#!/usr/bin/env bash
# The code checks CI runs, with zero findings: ruff lint, ruff format, mypy, import-linter (config in pyproject.toml).
# Installs headrace with its test extra (which holds the checkers) into .venv as a strict editable install,
# which is also how mypy and editors resolve headrace.components / .pipelines / .metadata.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=strict
status=0
echo "== ruff check";          .venv/bin/ruff check . || status=1
echo "== ruff format --check"; .venv/bin/ruff format --check . || status=1
echo "== mypy";                .venv/bin/mypy || status=1
echo "== lint-imports";        .venv/bin/lint-imports || status=1
exit $status
