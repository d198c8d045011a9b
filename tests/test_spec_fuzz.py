"""Whatever is in a pipeline file, ``headrace validate`` answers with located errors, never a traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headrace.pipelines.cli import main

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "penguin"
ORIGINAL = (EXAMPLE_DIR / "pipeline.yaml").read_text()
WRONG_VALUES = [
    "[1, 2]",
    "{a: 1}",
    "-3",
    "true",
    "null",
    "'x'",
    "1.5",
    "${params.nope}",
    "${env:HR_FUZZ_UNSET}",
    "ingest.examples",
    "",
    "~",
    "!!binary aGk=",
    "*nowhere",
    "&a [*a]",
    "2024-01-01",
]
SYNTAX = ":{}[]&*!|>'\"%@`#-,?\t\n "


def _misspell(data: st.DataObject, word: str) -> str:
    if len(word) < 2:
        return word + "x"
    i = data.draw(st.integers(0, len(word) - 2))
    kind = data.draw(st.sampled_from(["swap", "drop", "double", "random"]))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return data.draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.data())
    kind = draw(
        st.sampled_from(
            ["delete", "rename", "wrong_value", "syntax", "tab", "truncate", "empty", "random_bytes", "several"]
        )
    )
    text = ORIGINAL
    rounds = draw(st.integers(2, 4)) if kind == "several" else 1
    for _ in range(rounds):
        text = _mutate(
            data,
            text,
            kind if kind != "several" else draw(st.sampled_from(["delete", "rename", "wrong_value", "syntax", "tab"])),
        )
    if kind == "random_bytes":
        return draw(st.binary(max_size=300))
    return text.encode("utf-8", errors="surrogatepass") if kind != "empty" else b""


def _mutate(data: st.DataObject, text: str, kind: str) -> str:
    lines = text.splitlines(keepends=True)
    key_lines = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_]+:", line)] or [0]
    if kind == "delete":
        i = data.draw(st.sampled_from(key_lines))
        return "".join(lines[:i] + lines[i + 1 :])
    if kind == "rename":
        i = data.draw(st.sampled_from(key_lines))
        indent, key, rest = re.match(
            r"^(\s*)([A-Za-z_]+)(:.*\n?)$", lines[i] + ("" if lines[i].endswith("\n") else "\n")
        ).groups()
        lines[i] = indent + _misspell(data, key) + rest
        return "".join(lines)
    if kind == "wrong_value":
        i = data.draw(st.sampled_from(key_lines))
        indent, key = re.match(r"^(\s*)([A-Za-z_]+):", lines[i]).groups()
        lines[i] = f"{indent}{key}: {data.draw(st.sampled_from(WRONG_VALUES))}\n"
        return "".join(lines)
    if kind == "syntax":
        at = data.draw(st.integers(0, len(text)))
        junk = data.draw(st.text(alphabet=SYNTAX, min_size=1, max_size=3))
        return text[:at] + junk + text[at:]
    if kind == "tab":
        at = data.draw(st.sampled_from([0, *[m.end() for m in re.finditer(r"\n", text)]]))
        return text[:at] + "\t" + text[at:]
    if kind == "truncate":
        return text[: data.draw(st.integers(0, len(text)))]
    return text


LOCATED = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): error: ")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example's folder, so the user component resolves and the project stays untouched."""
    target = tmp_path_factory.mktemp("fuzz")
    shutil.copy(EXAMPLE_DIR / "summarize.py", target / "summarize.py")
    return target


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=mutated())
def test_validate_never_crashes_and_locates_every_error(folder: Path, content: bytes) -> None:
    path = folder / "pipeline.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)
    output = result.output
    assert "Traceback" not in output
    assert result.exit_code in (0, 2), output
    if result.exit_code == 0:
        return
    error_lines = [line for line in output.splitlines() if not line.startswith("  hint: ")][:-1]
    assert error_lines, output
    for line in error_lines:
        match = LOCATED.match(line)
        assert match, f"not located: {line!r}\n{output}"
        assert match["file"] == str(path)
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1
    assert re.fullmatch(rf"\d+ errors? in {re.escape(str(path))}", output.splitlines()[-1])
