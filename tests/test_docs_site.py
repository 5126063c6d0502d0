"""The documentation site: built offline with nothing from a CDN or Google Fonts, an API
reference holding every public name, the HTTP reference rendered from the issuer's own
OpenAPI document, and diagrams that are pre-rendered from their current sources."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from paylater_sdk.issuer.web.contract import openapi_document

ROOT = Path(__file__).resolve().parents[1]


def _load(relative: str) -> Any:
    """A docs tool (not a package on sys.path), imported from its file."""
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


source_digest = _load("docs/diagrams/render.py").source_digest
render = _load("docs/hooks/http_reference.py").render

REFERENCE_PAGES = {
    "paylater_sdk": "reference/paylater_sdk/index.html",
    "paylater_sdk.installments": "reference/installments/index.html",
    "paylater_sdk.signing": "reference/signing/index.html",
    "paylater_sdk.client": "reference/client/index.html",
    "paylater_sdk.testing": "reference/testing/index.html",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(out)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    pages = list(site.rglob("*.html"))
    assert len(pages) > 15
    remote = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""")
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "fonts.googleapis" not in html, page
        assert "fonts.gstatic" not in html, page
        assert not remote.search(html), (page, remote.search(html))
        assert 'class="mermaid"' not in html, page  # would make the theme fetch mermaid.js


@pytest.mark.parametrize("package", sorted(REFERENCE_PAGES))
def test_the_api_reference_lists_every_public_name(site: Path, package: str) -> None:
    html = (site / REFERENCE_PAGES[package]).read_text(encoding="utf-8")
    module = importlib.import_module(package)
    for name in module.__all__:
        if name.startswith("__"):
            continue
        assert f'id="{package}.{name}"' in html, f"{package}.{name} missing from the reference"


def test_the_http_reference_has_every_operation_and_schema(site: Path) -> None:
    html = (site / "http-reference" / "index.html").read_text(encoding="utf-8")
    document = openapi_document(include_test_controls=True)
    for path, item in document["paths"].items():
        for method in item:
            assert f"<code>{method.upper()} {path}</code>" in html, (method, path)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name.lower()}"' in html, name
    assert (site / "openapi.json").is_file()


def test_the_render_shows_fields_and_their_rules() -> None:
    text = render(openapi_document(include_test_controls=False))
    section = text.split("### `POST /v1/checkouts`", 1)[1].split("### ", 1)[0]
    assert "| `out_trade_no` | string (pattern `^[A-Za-z0-9_\\-\\|*.]{1,64}$`) | yes |" in section
    assert "| `expires_in` | integer (≥ 60; ≤ 604800) | no |" in section
    assert "| 201 | Created | [Checkout](#schema-checkout) |" in section
    assert "/_test/" not in text  # live mode: no test controls


@pytest.mark.parametrize("source", sorted((ROOT / "docs" / "diagrams").glob("*.mmd")), ids=str)
def test_each_diagram_is_rendered_from_its_current_source(source: Path) -> None:
    svg = ROOT / "docs" / "img" / f"{source.stem}.svg"
    first = svg.read_text(encoding="utf-8").splitlines()[0]
    assert source_digest(source.read_text(encoding="utf-8")) in first, (
        f"re-render: python docs/diagrams/render.py .../mermaid.min.js ({svg.name} is stale)"
    )
    assert f"img/{source.stem}.svg" in "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")
    )
