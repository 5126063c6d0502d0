"""docs/testing.md promises a test file merchants can copy: run exactly that file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def example_test() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- example-test -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/testing.md lost its example test block"
    return match.group(1)


def test_the_documented_example_passes_as_a_merchant_would_run_it(tmp_path: Path) -> None:
    test_file = tmp_path / "test_paylater_checkout.py"
    test_file.write_text(example_test(), encoding="utf-8")

    # A separate pytest process in a folder of its own: the fixtures must come from the
    # installed plugin (entry point pytest11), not from this repository's conftest files.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout
