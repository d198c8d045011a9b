# Sourced by the scripts beside it, never run: from the repository's root, create .venv if missing and
# install headrace into it as a strict editable install (how mypy and editors resolve headrace.components,
# .pipelines and .metadata). The one argument is the extras to install, e.g. '[test]'; none for headrace alone.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${1:-}" --config-settings editable_mode=strict
