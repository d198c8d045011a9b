"""Read a pipeline file into data with positions: the first step of loading, and the one that can stop it.

A missing file, bytes that are not UTF-8, broken YAML or a top level that is
not a mapping leave nothing else to check: each is recorded and ``Abort`` raised.
"""

from __future__ import annotations

import hashlib
from typing import Any

from headrace.pipelines.marked_yaml import YamlSyntaxError, load_marked
from headrace.pipelines.spec_issues import Abort, SpecIssue, SpecProblems


def read_pipeline_file(problems: SpecProblems) -> tuple[dict[str, Any], str]:
    """The file's top-level mapping (positions kept in ``problems.doc``) and the sha256 of its bytes."""
    file = problems.file
    try:
        with open(file, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        problems.add(SpecIssue(file, 0, 0, "no such file"))
        raise Abort from None
    except IsADirectoryError:
        problems.add(SpecIssue(file, 0, 0, "is a directory, not a pipeline file"))
        raise Abort from None
    except OSError as exc:
        problems.add(SpecIssue(file, 0, 0, f"cannot read the file: {exc.strerror or exc}"))
        raise Abort from None
    fingerprint = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        problems.add(
            SpecIssue(file, line, column, f"not UTF-8 text: byte {raw[exc.start]:#04x}", "save the file as UTF-8")
        )
        raise Abort from None
    try:
        problems.doc = load_marked(text)
    except YamlSyntaxError as exc:
        p = exc.problem
        problems.add(SpecIssue(file, p.line, p.column, p.message, p.hint))
        raise Abort from None
    for p in problems.doc.problems:
        problems.add(SpecIssue(file, p.line, p.column, p.message, p.hint))
    data = problems.doc.data
    if data is None and problems.doc.problems:
        raise Abort
    if data is None:
        problems.add(SpecIssue(file, 1, 1, "the file is empty", "a pipeline needs at least 'name:' and 'components:'"))
        raise Abort
    if not isinstance(data, dict):
        line, column = problems.doc.position(())
        kind = "a list" if isinstance(data, list) else f"the value {data!r}"
        problems.add(
            SpecIssue(file, line, column, f"the top level must be a mapping (name:, components:, ...), found {kind}")
        )
        raise Abort
    return data, fingerprint
