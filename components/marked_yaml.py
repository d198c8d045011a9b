"""YAML loading that remembers where every key and value was written.

``yaml.safe_load`` throws the node marks away, and without them an error can
only say *what* is wrong, not *where*. We compose the node tree instead and
build plain JSON-like values ourselves, recording ``path -> (line, column)``
(1-based) for every value and every mapping key, so that any later error
(pydantic's ``loc``, a bad wire, an unknown type) points at the exact spot.

Only JSON-like values come out: mappings with string keys, lists, str, int,
float, bool and None. Timestamps stay strings (pydantic parses them where a
field wants a date); exotic tags are reported, never constructed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from headrace.components.problems import Problem

Path = tuple[str | int, ...]
Position = tuple[int, int]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_AS_TEXT_TAGS = {"tag:yaml.org,2002:timestamp"}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INTERPOLATION = re.compile(r"\$\{[^}]*\}?")
MAX_NODES = 2_000_000
"""Upper bound on values built, so an alias bomb ("billion laughs") is an error, not a hang."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader used only to compose nodes and construct plain scalars.

    libyaml's parser when PyYAML has it (it keeps the marks and is ~10x faster:
    a curated schema of a 10,000-column table is a big file), else PyYAML's own.
    """


YamlProblem = Problem
"""A problem found while reading the text, at a 1-based position; its file is set by whoever knows it."""


@dataclass
class MarkedDocument:
    """Plain values plus where each was written."""

    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    """Position of the value at each path (``()`` is the whole document)."""
    keys: dict[Path, Position] = field(default_factory=dict)
    """Position of the mapping key that introduces the value at each path."""
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: Path, *, key: bool = False) -> Position:
        """Where ``path`` was written, falling back to its nearest written ancestor."""
        path = tuple(path)
        while True:
            table = self.keys if key else self.values
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            if not path:
                return (1, 1)
            path = path[:-1]


class YamlSyntaxError(Exception):
    """The text is not YAML (or not the subset we accept); carries a 1-based position."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _position(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


def _offset_position(text: str, offset: int) -> Position:
    before = text[:offset]
    line = before.count("\n") + 1
    return (line, offset - (before.rfind("\n") + 1) + 1)


def _unquoted_interpolation(line: str, column: int) -> tuple[int, str] | None:
    """The 1-based column and text of the unquoted ``${...}`` a flow-collection error stopped at, if any.

    In ``{a: ${x}}`` YAML reads ``{`` after ``$`` as the start of a nested
    mapping and fails with a bare parser message; the fix is quoting.
    """
    found = None
    for match in _INTERPOLATION.finditer(line):
        if match.start() < column:  # the parser stops inside the ${...} (after the "$"), never before it
            found = match
    if found is None or line[: found.start()].count('"') % 2 or line[: found.start()].count("'") % 2:
        return None
    return found.start() + 1, found.group(0)


def _character(found: Any) -> str:
    """libyaml reports the code point, PyYAML the character; show both ways the same."""
    char = chr(found) if isinstance(found, int) else str(found)
    return f"{char!r} (U+{ord(char[0]):04X})" if char else "''"


def load_marked(text: str) -> MarkedDocument:
    """Parse ``text``; raises ``YamlSyntaxError`` for text that is not YAML at all.

    Problems that still leave a usable tree (a duplicate key, an unsupported
    tag) are collected in ``MarkedDocument.problems`` so they are reported
    together with every other error of the file.
    """
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = _position(mark) if mark is not None else (1, 1)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "invalid YAML"
        lines = text.splitlines()
        bad_line = lines[line - 1] if 0 < line <= len(lines) else ""
        hint = "YAML does not allow tabs for indentation; use spaces" if "\t" in bad_line else None
        unquoted = _unquoted_interpolation(bad_line, column) if "flow" in message else None
        if unquoted is not None:
            column, written = unquoted
            hint = f'inside {{...}} or [...] a ${{...}} must be quoted: write "{written}" instead of {written}'
        raise YamlSyntaxError(Problem("", line, column, f"invalid YAML: {message}", hint)) from None
    except yaml.reader.ReaderError as exc:
        line, column = _offset_position(text, exc.position)
        raise YamlSyntaxError(
            Problem("", line, column, f"invalid YAML: unacceptable character {_character(exc.character)}", None)
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem("", 1, 1, f"invalid YAML: {exc}")) from None
    except RecursionError:
        raise YamlSyntaxError(Problem("", 1, 1, "invalid YAML: nesting is too deep")) from None
    document = MarkedDocument(data=None)
    if root is None:
        return document
    builder = _Builder(loader, document)
    try:
        document.data = builder.build(root, ())
    except RecursionError:
        document.problems.append(Problem("", 1, 1, "nesting is too deep"))
    except _TooLarge:
        document.problems.append(
            Problem("", 1, 1, f"the file expands to more than {MAX_NODES} values (aliases nested too deeply?)")
        )
    document.values[()] = _position(root.start_mark)
    return document


class _TooLarge(Exception):
    pass


class _Builder:
    def __init__(self, loader: _Loader, document: MarkedDocument) -> None:
        self.loader = loader
        self.doc = document
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge
        self.doc.values[path] = _position(node.start_mark)
        if id(node) in self.active:
            self._problem(node, "recursive alias: a value that contains itself")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ_TAG:
                    self._problem(node, f"unsupported YAML tag {node.tag!r}", "remove the tag")
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if node.tag != _MAP_TAG:
                self._problem(node, f"unsupported YAML tag {node.tag!r}", "remove the tag")
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in _PLAIN_TAGS:
            try:
                return self.loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, OverflowError):
                return node.value
        if node.tag in _AS_TEXT_TAGS:
            return node.value
        self._problem(node, f"unsupported YAML tag {node.tag!r}", "remove the tag")
        return node.value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit: dict[str, Position] = {}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_pairs(value_node))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, "a mapping key must be a plain name, not a list or a mapping")
                continue
            key = key_node.value
            where = _position(key_node.start_mark)
            if key in explicit:
                line, _ = explicit[key]
                self._problem(key_node, f"duplicate key {key!r} (first written on line {line})", "remove one of them")
                continue
            explicit[key] = where
        for key_node, value_node in merged:
            if (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.value not in explicit
                and key_node.value not in result
            ):
                self.doc.keys[(*path, key_node.value)] = _position(key_node.start_mark)
                result[key_node.value] = self.build(value_node, (*path, key_node.value))
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key in seen:
                continue
            seen.add(key)
            self.doc.keys[(*path, key)] = _position(key_node.start_mark)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _merge_pairs(self, node: yaml.Node) -> list[tuple[yaml.Node, yaml.Node]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self._problem(source, "'<<' merges only mappings")
                continue
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE_TAG:
                    pairs.extend(self._merge_pairs(value_node))
                else:
                    pairs.append((key_node, value_node))
        return pairs

    def _problem(self, node: yaml.Node, message: str, hint: str | None = None) -> None:
        line, column = _position(node.start_mark)
        self.doc.problems.append(Problem("", line, column, message, hint))
