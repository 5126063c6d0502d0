"""Every code block of README.md and docs/*.md runs in the test suite, in page order.

A page's blocks share one namespace, the way a reader types them one after the other:

- ``python`` blocks are executed; ``pycon`` blocks are doctests (``...`` matches anything);
- ``bash`` blocks whose commands are all ``paylater ...`` are run (in a temporary folder,
  so files they write do not land in the checkout) and must exit 0;
- a block right after ``<!-- output -->`` is what the block before it printed (``...``
  stands for anything, such as an id or a date);
- a block right after ``<!-- not run: why -->`` is a fragment (an install command, a server
  that does not end, a wire format shown for reading); ``why`` is required;
- ``<!-- example-test -->`` marks a file that another test runs as a pytest file.

Some pages have a runner of their own that checks more of what they print
(``OWN_RUNNERS``); there this test runs the bash blocks and checks the markers only.
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
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
# page -> the test that runs its Python examples in order and checks what they print.
OWN_RUNNERS = {
    "docs/client.md": "tests/client/test_docs.py",
    "docs/issuer.md": "tests/issuer/test_issuer_docs.py",
    "docs/plans.md": "tests/installments/test_installments_docs.py",
}
RUNNABLE = {"python", "pycon", "bash"}
_FENCE = re.compile(
    r"(?:^<!--\s*(?P<mark>[^>]*?)\s*-->\n)?^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$",
    re.M | re.S,
)
# Servers that do not end: never run here.
_NEVER_RUN = ("paylater demo", "paylater issuer serve")
# Environment variables the examples name (docs/protocol.md's --passphrase-env).
_EXAMPLE_ENV = {"KEY_PASSPHRASE": "an example passphrase"}


@dataclass
class Block:
    page: str
    line: int
    info: str
    mark: str | None
    body: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for m in _FENCE.finditer(text):
        start = m.start("info") - 3
        found.append(
            Block(
                page=page,
                line=text.count("\n", 0, start) + 1,
                info=m.group("info").strip().split(" ")[0],
                mark=m.group("mark"),
                body=m.group("body"),
            )
        )
    return found


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


@pytest.mark.parametrize("page", PAGES)
def test_every_block_is_run_or_marked(page: str) -> None:
    problems = []
    previous: Block | None = None
    for block in blocks(page):
        mark = block.mark or ""
        if mark.startswith("not run"):
            if not re.match(r"not run: \S", mark):
                problems.append(f"{block.where}: say why it is not run (<!-- not run: why -->)")
        elif mark == "output":
            if previous is None or previous.info not in RUNNABLE or previous.mark:
                problems.append(f"{block.where}: an output block must follow a block that runs")
        elif mark == "example-test":
            pass
        elif block.info == "bash" and not _runnable_bash(block.body):
            problems.append(f"{block.where}: a bash block that cannot run here needs a marker")
        elif block.info not in RUNNABLE:
            problems.append(f"{block.where}: a ```{block.info} block needs a marker")
        previous = block
    assert not problems, "\n".join(problems)


def _run_bash(block: Block, cwd: Path) -> str:
    out = []
    for command in _commands(block.body):
        argv = shlex.split(command)
        # The paylater beside this Python (a venv that is not activated), else on PATH.
        beside = Path(sys.executable).parent / "paylater"
        exe = str(beside) if beside.is_file() else shutil.which("paylater")
        assert exe is not None, "the paylater command is not installed"
        proc = subprocess.run(
            [exe, *argv[1:]],
            cwd=cwd,
            env={**os.environ, **_EXAMPLE_ENV},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, f"{block.where}: {command}\n{proc.stderr}"
        out.append(proc.stdout)
    return "".join(out)


def _run_python(block: Block, namespace: dict[str, object]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        if block.info == "python":
            exec(compile(block.body, block.where, "exec"), namespace)
        else:
            test = doctest.DocTestParser().get_doctest(block.body, namespace, block.where, None, 0)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
            runner.run(test, clear_globs=False, out=buffer.write)
            assert runner.failures == 0, f"{block.where}:\n{buffer.getvalue()}"
    return buffer.getvalue()


def _close_all(namespace: dict[str, object]) -> None:
    """Stop what the page started (a MockIssuer used without ``with``, a client)."""
    for value in namespace.values():
        stop = getattr(value, "stop", None) if type(value).__name__ == "MockIssuer" else None
        if callable(stop) and getattr(value, "_mock", None) is not None:
            stop()


@pytest.mark.parametrize("page", PAGES)
def test_page_blocks_run_in_order(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # what a block writes (keys/, a database) stays here
    namespace: dict[str, object] = {"__name__": f"docs_{Path(page).stem}"}
    own_runner = page in OWN_RUNNERS
    ran = 0
    last_output: str | None = None
    try:
        for block in blocks(page):
            if block.mark == "output":
                if last_output is None and own_runner:
                    continue  # printed by a Python block: its own runner compares it
                assert last_output is not None, f"{block.where}: no output to compare"
                assert _matches(block.body, last_output), (
                    f"{block.where}: the page says\n{block.body}\nbut the block printed\n"
                    f"{last_output}"
                )
                continue
            last_output = None
            if block.mark:
                continue
            if block.info == "bash" and _runnable_bash(block.body):
                last_output = _run_bash(block, tmp_path)
            elif block.info in ("python", "pycon") and not own_runner:
                last_output = _run_python(block, namespace)
            elif block.info in ("python", "pycon"):
                continue  # its own runner (OWN_RUNNERS) executes it
            else:
                continue  # unmarked and not runnable: test_every_block_is_run_or_marked fails
            ran += 1
    finally:
        _close_all(namespace)
    runnable = [b for b in blocks(page) if not b.mark and b.info in RUNNABLE]
    expected = len(
        [
            b
            for b in runnable
            if (b.info == "bash" and _runnable_bash(b.body))
            or (b.info != "bash" and not own_runner)
        ]
    )
    assert ran == expected
