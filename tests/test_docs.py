"""Every example in README.md, docs/*.md and the package's docstrings runs: one mechanism.

Sybil parses each document into regions and evaluates them in order in one namespace per
document, the way a reader types a page's blocks one after the other. The page conventions:

- ``python`` blocks are executed; ``pycon`` blocks are doctests (``...`` matches anything);
- ``bash`` blocks whose commands are all ``paylater ...`` are run (in a temporary folder,
  so files they write do not land in the checkout) and must exit 0;
- a block right after ``<!-- output -->`` is what the block before it printed (``...``
  stands for anything, such as an id or a date);
- a block right after ``<!-- not run: why -->`` is a fragment (an install command, a server
  that does not end, a wire format shown for reading); ``why`` is required;
- a block right after ``<!-- example-test -->`` is a test file merchants can copy: it runs
  as a pytest file in a folder of its own, with the fixtures of the installed plugin.

Any other block fails the page: every example either runs or says why it does not.
Docstrings: every ``>>>`` example in ``paylater_sdk`` runs (``+SKIP`` marks a fragment).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.document import PythonDocStringDocument
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.rest import DocTestParser

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
MODULES = sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / "paylater_sdk").rglob("*.py")
    if "migrations" not in p.parts
)
_FENCE = re.compile(
    r"(?:^<!--\s*(?P<mark>[^>]*?)\s*-->\n)?^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$",
    re.M | re.S,
)
# Servers that do not end: never run here.
_NEVER_RUN = ("paylater demo", "paylater issuer serve")
# Environment variables the examples name (docs/protocol.md's --passphrase-env).
_EXAMPLE_ENV = {"KEY_PASSPHRASE": "an example passphrase"}
# Where a page's namespace keeps what its last block printed (None: it ran nothing).
_OUTPUT = "__doc_output__"
_RAN = "__doc_blocks_run__"
_DOCTEST = DocTestEvaluator(optionflags=doctest.ELLIPSIS)


@dataclass(frozen=True)
class Block:
    """One fenced block of a page and the marker comment right above it, if any."""

    info: str
    mark: str | None
    body: str


def _commands(body: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _runnable_bash(body: str) -> bool:
    commands = _commands(body)
    return bool(commands) and all(
        c.startswith("paylater ") and not c.startswith(_NEVER_RUN) for c in commands
    )


def _matches(expected: str, actual: str) -> bool:
    """doctest's ``...`` matching, line endings and trailing spaces ignored."""

    def norm(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.strip().splitlines())

    checker = doctest.OutputChecker()
    return checker.check_output(norm(expected) + "\n", norm(actual) + "\n", doctest.ELLIPSIS)


# -- evaluators: each gets the Example; a returned string is a failure ----------------------


def _ran(example: Example, output: str | None) -> None:
    example.namespace[_OUTPUT] = output
    example.namespace[_RAN] = int(example.namespace.get(_RAN, 0)) + 1  # type: ignore[call-overload]


def _run_python(example: Example) -> None:
    block: Block = example.parsed
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(block.body, f"{example.path}:{example.line}", "exec"), example.namespace)
    _ran(example, buffer.getvalue())


def _run_doctest(example: Example) -> str | None:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        failure = _DOCTEST(example)
    if failure:
        return failure
    _ran(example, None)  # a doctest checks its own output
    return None


def _run_bash(example: Example) -> None:
    block: Block = example.parsed
    out = []
    for command in _commands(block.body):
        argv = shlex.split(command)
        # The paylater beside this Python (a venv that is not activated), else on PATH.
        beside = Path(sys.executable).parent / "paylater"
        exe = str(beside) if beside.is_file() else shutil.which("paylater")
        assert exe is not None, "the paylater command is not installed"
        proc = subprocess.run(
            [exe, *argv[1:]],
            env={**os.environ, **_EXAMPLE_ENV},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, f"{example.path}:{example.line}: {command}\n{proc.stderr}"
        out.append(proc.stdout)
    _ran(example, "".join(out))


def _check_output(example: Example) -> str | None:
    printed = example.namespace.get(_OUTPUT)
    example.namespace[_OUTPUT] = None
    if not isinstance(printed, str):
        return "an output block must follow a python or bash block that ran"
    expected: str = example.parsed.body
    if not _matches(expected, printed):
        return f"the page says\n{expected}\nbut the block printed\n{printed}"
    return None


def _run_example_test(example: Example) -> str | None:
    """Run the block as a merchant would: a pytest file alone in a folder of its own.

    The fixtures must come from the installed plugin (entry point ``pytest11``), not from
    this repository's conftest files.
    """
    folder = Path.cwd() / f"example_test_{example.line}"
    folder.mkdir()
    (folder / "test_paylater_example.py").write_text(example.parsed.body, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", "."],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    _ran(example, None)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not re.fullmatch(r"\d+ passed in [\d.]+s", summary):
        return f"the example test did not pass:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
    return None


def _skip(example: Example) -> None:
    example.namespace[_OUTPUT] = None


def _fail(message: str) -> object:
    def evaluate(example: Example) -> str:
        return message

    return evaluate


# -- the page parser -------------------------------------------------------------------------


def _shifted(regions: Iterator[Region], offset: int) -> Iterator[Region]:
    for region in regions:
        yield Region(region.start + offset, region.end + offset, region.parsed, region.evaluator)


def _evaluator_for(block: Block) -> object:
    mark = block.mark or ""
    if mark.startswith("not run"):
        return _skip if re.match(r"not run: \S", mark) else _fail("say why (<!-- not run: why -->)")
    if mark == "output":
        return _check_output
    if mark == "example-test":
        return _run_example_test if block.info == "python" else _fail("not a python block")
    if mark:
        return _fail(f"unknown marker <!-- {mark} -->")
    if block.info == "python":
        return _run_python
    if block.info == "bash" and _runnable_bash(block.body):
        return _run_bash
    if block.info == "bash":
        return _fail("a bash block that cannot run here needs <!-- not run: why -->")
    return _fail(f"a ```{block.info} block needs a marker (<!-- output --> or not run: why)")


def parse_page(document: Document) -> Iterator[Region]:
    """A Sybil parser: one region per fenced block (a ``pycon`` block: one per ``>>>``)."""
    for m in _FENCE.finditer(document.text):
        block = Block(m.group("info").strip().split(" ")[0], m.group("mark"), m.group("body"))
        if block.info == "pycon" and not block.mark:
            doctests = DocTestStringParser(_DOCTEST)(block.body, document.path)
            for region in _shifted(iter(doctests), m.start("body")):
                yield Region(region.start, region.end, region.parsed, _run_doctest)
            continue
        yield Region(m.start(), m.end(), block, _evaluator_for(block))


PAGE_SYBIL = Sybil(parsers=[parse_page])
DOCSTRING_SYBIL = Sybil(
    parsers=[DocTestParser(optionflags=doctest.ELLIPSIS)],
    document_types={".py": PythonDocStringDocument},
)


def _close_all(namespace: dict[str, object]) -> None:
    """Stop what the page started (a MockIssuer used without ``with``)."""
    for value in namespace.values():
        if type(value).__name__ == "MockIssuer" and getattr(value, "_mock", None) is not None:
            value.stop()  # type: ignore[attr-defined]


def _evaluate(document: Document) -> int:
    """Evaluate every example in order; the number of blocks that ran."""
    try:
        for example in document:
            example.evaluate()
    finally:
        _close_all(document.namespace)
    return int(document.namespace.get(_RAN, 0))  # type: ignore[call-overload]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_in_order(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # what a block writes (keys/, a database) stays here
    document = PAGE_SYBIL.parse(ROOT / page)
    document.namespace["__name__"] = f"docs_{Path(page).stem}"
    runnable = [e for e in document if e.region.evaluator not in (_skip, _check_output)]
    assert _evaluate(document) == len(runnable)


def _has_examples(module: str) -> bool:
    """Any docstring example that runs (``+SKIP`` marks a fragment, shown but not run)."""
    examples = DOCSTRING_SYBIL.parse(ROOT / module)
    return any(not e.parsed.options.get(doctest.SKIP) for e in examples)


MODULES_WITH_EXAMPLES = [m for m in MODULES if _has_examples(m)]


def test_docstring_examples_are_found() -> None:
    assert {
        "paylater_sdk/installments/__init__.py",
        "paylater_sdk/money.py",
        "paylater_sdk/lifecycle.py",
    } <= set(MODULES_WITH_EXAMPLES)


@pytest.mark.parametrize("module", MODULES_WITH_EXAMPLES)
def test_docstring_examples_run(module: str) -> None:
    document = DOCSTRING_SYBIL.parse(ROOT / module)
    examples = list(document)
    for example in examples:
        example.evaluate()
    assert examples
