"""docs/issuer.md's walk-through runs as written and prints what it says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "issuer.md"


def test_the_walk_through_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
    namespace: dict[str, object] = {"__name__": "issuer_docs"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("CREATED http://localhost/authorize/co_")
    assert re.fullmatch(
        r"303 https://shop\.example/orders/A1001\?checkout_id=co_\w+&out_trade_no=A1001", lines[2]
    )
    assert "AUTHORIZED fenfu-6" in lines
    assert "CAPTURED 6" in lines
    assert "201 SUCCEEDED" in lines
    assert "3" in lines
    events = [
        line.split()[0] for line in lines if line.startswith(("CHECKOUT.", "ORDER.", "REFUND."))
    ]
    assert events == ["CHECKOUT.AUTHORIZED", "ORDER.CAPTURED", "REFUND.SUCCEEDED"]
    assert lines[-1] == (
        "[('REFUND.SUCCEEDED', 'DELIVERED'), ('ORDER.CAPTURED', 'DELIVERED'),"
        " ('CHECKOUT.AUTHORIZED', 'DELIVERED')]"
    )
