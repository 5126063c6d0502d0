"""The issuer's home page, ``GET /``: what this server is and where to go from here.

A developer who opens the issuer's URL (printed by ``paylater demo`` and ``paylater issuer
serve``) gets a page instead of a 404: what a mock issuer is, a way into the consent page,
the delivery log, the OpenAPI document and the docs. ``/`` answers HTML; nothing on it is
secret (no keys, no buyers beyond the test-mode sign-in hint of the consent page).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, make_response, render_template

from ._context import current_issuer

__all__ = ["blueprint"]

blueprint = Blueprint("paylater_landing", __name__, template_folder="templates")


def _setting(name: str) -> str | None:
    value = current_app.config.get(name)
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None


@blueprint.get("/")
def home() -> Response:
    issuer = current_issuer()
    nonce = secrets.token_urlsafe(16)
    html = render_template(
        "paylater_issuer/landing.html",
        style_nonce=nonce,
        test_mode=bool(issuer.config.test_mode),
        # Set by `paylater demo`: the example shop whose checkout leads to the consent page.
        shop_url=_setting("DEMO_SHOP_URL"),
        docs_url=_setting("DOCS_URL"),
    )
    response = make_response(html, 200)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
