"""Render docs/diagrams/*.mmd to docs/img/*.svg with Mermaid in headless Chromium.

The docs site shows the pre-rendered SVGs, so it loads no diagram library from a CDN and
works offline and in mainland China. After editing a ``.mmd`` file, run::

    npm pack mermaid@11 && tar xzf mermaid-*.tgz   # anywhere: gives package/dist/
    python docs/diagrams/render.py package/dist/mermaid.min.js

Each SVG starts with the SHA-256 of its source; tests/test_docs_site.py fails when an SVG
is older than its ``.mmd``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMG = HERE.parent / "img"
CONFIG = (
    "{startOnLoad: false, securityLevel: 'strict', theme: 'neutral', htmlLabels: false,"
    " flowchart: {htmlLabels: false}, state: {htmlLabels: false}}"
)


def source_digest(source: str) -> str:
    """The stamp written into (and checked against) each rendered SVG."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def main(mermaid_js: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content("<!doctype html><html><body></body></html>")
        page.add_script_tag(path=mermaid_js)
        page.evaluate(f"mermaid.initialize({CONFIG})")
        for mmd in sorted(HERE.glob("*.mmd")):
            source = mmd.read_text(encoding="utf-8")
            svg = page.evaluate(
                "async ([id, src]) => (await mermaid.render(id, src)).svg", [mmd.stem, source]
            )
            stamp = (
                f"<!-- rendered from docs/diagrams/{mmd.name}, sha256 {source_digest(source)} -->"
            )
            (IMG / f"{mmd.stem}.svg").write_text(f"{stamp}\n{svg}\n", encoding="utf-8")
            print(f"wrote docs/img/{mmd.stem}.svg")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1])
