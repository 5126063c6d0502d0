"""The examples in docs/client.md run, in order, as one session against the mock issuer."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"
_BLOCK = re.compile(r"(<!-- not run[^>]*-->\n)?```python\n(.*?)```", re.DOTALL)


def runnable_blocks(text: str) -> list[str]:
    return [code for skip, code in _BLOCK.findall(text) if not skip]


def test_client_docs_examples_run() -> None:
    blocks = runnable_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 10  # every service has its example
    namespace: dict[str, object] = {"__name__": "docs_client"}
    try:
        for number, code in enumerate(blocks, 1):
            exec(compile(code, f"{DOC.name}[block {number}]", "exec"), namespace)
    finally:
        issuer = namespace.get("issuer")
        if issuer is not None and getattr(issuer, "_mock", None) is not None:
            issuer.stop()  # type: ignore[attr-defined]
