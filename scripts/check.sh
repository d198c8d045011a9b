#!/usr/bin/env bash
# The code checks CI runs, with zero findings: ruff lint, ruff format, mypy, import-linter (config in pyproject.toml).
# Installs headrace with its test extra (which holds the checkers) into .venv as a strict editable install,
# which is also how mypy and editors resolve headrace.components / .pipelines / .metadata.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" '[test]'
status=0
echo "== ruff check";          .venv/bin/ruff check . || status=1
echo "== ruff format --check"; .venv/bin/ruff format --check . || status=1
echo "== mypy";                .venv/bin/mypy || status=1
echo "== lint-imports";        .venv/bin/lint-imports || status=1
exit $status
