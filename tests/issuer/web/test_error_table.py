"""One table maps error codes to HTTP statuses; the domain raises codes, never statuses."""

from __future__ import annotations

import re
from pathlib import Path

from paylater_sdk.issuer.web.wire import ERROR_STATUS

ISSUER = Path(__file__).resolve().parents[3] / "paylater_sdk" / "issuer"
API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
_RAISED = re.compile(r'(?:code=|bad\(\s*|error_response\(\s*\d{3},\s*)"([A-Z][A-Z0-9_]+)"')


def _raised_codes() -> set[str]:
    return {m for path in ISSUER.rglob("*.py") for m in _RAISED.findall(path.read_text())}


def test_every_code_the_issuer_raises_has_a_status() -> None:
    codes = _raised_codes()
    assert len(codes) > 20  # the scan found them
    assert codes - set(ERROR_STATUS) == set()


def test_the_domain_names_no_http_status() -> None:
    domain = sorted((ISSUER / "domain").glob("*.py"))
    assert len(domain) > 8
    for path in domain:
        text = path.read_text()
        assert "http_status" not in text, path.name
        assert "import flask" not in text, path.name
        assert "from flask" not in text, path.name


def test_the_table_is_the_one_in_the_docs() -> None:
    """docs/api.md's "Errors" table and ERROR_STATUS say the same, code by code."""
    documented: dict[str, int] = {}
    for line in API_DOC.read_text().splitlines():
        row = re.fullmatch(r"\| (\d{3}) \| (.+?) \| .+ \|", line)
        if row:
            for code in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.group(2)):
                documented.setdefault(code, int(row.group(1)))
    assert {c: s for c, s in documented.items() if c in ERROR_STATUS} == {
        c: s for c, s in ERROR_STATUS.items() if s < 500
    }
