"""The examples in docs/plans.md run and print what the page says."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "plans.md"
BLOCK = re.compile(r"```pycon\n(.*?)```", re.DOTALL)


def test_plans_page_examples_run() -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs: dict[str, object] = {}
    for number, block in enumerate(blocks, 1):
        test = parser.get_doctest(block, globs, f"plans.md block {number}", str(DOC), 0)
        test.globs = globs  # share names across blocks, as a reader of the page would
        runner.run(test, clear_globs=False)
    results = runner.summarize(verbose=False)
    assert results.attempted >= 20
    assert results.failed == 0


def test_installments_module_docstring_example() -> None:
    import paylater_sdk.installments as module

    results = doctest.testmod(module)
    assert results.attempted >= 4
    assert results.failed == 0
