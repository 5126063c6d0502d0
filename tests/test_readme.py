"""Every Python example in README.md runs as written (a newcomer copies them first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(source, str(README), "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    if "print(" in source:
        assert out.strip(), "an example that prints must show something"
    if "checkouts.create" in source:
        assert out.startswith("CREATED ")  # the state in words, not CheckoutState.CREATED
        assert "/authorize/co_" in out
    if "build_schedule" in source:
        assert out.split()[:2] == ["1072.00", "CNY"]
