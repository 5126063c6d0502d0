"""What every server-rendered buyer page shares: the CSRF token and the strict headers.

The consent page, the account pages, the servicing pages and the WeChat sandbox page are
plain HTML forms; each sets these headers and checks this token, so a fix here (a header,
the token's comparison) reaches all of them at once.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from typing import TypeVar

from flask import request, session
from werkzeug.wrappers import Response

#: The session key of the CSRF token (one per session; a page may use its own key).
CSRF_KEY = "paylater_csrf"
_R = TypeVar("_R", bound=Response)


def csrf_token(key: str = CSRF_KEY) -> str:
    """The session's CSRF token for a form, made on first use."""
    token = session.get(key)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[key] = token
    return token


def renew_csrf(key: str = CSRF_KEY) -> None:
    """A new token at sign-in: one read before it never works after."""
    session[key] = secrets.token_urlsafe(32)


def csrf_ok(key: str = CSRF_KEY) -> bool:
    """Whether the posted form carries the session's token (compared in constant time)."""
    expected = session.get(key)
    given = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def secure(response: _R, nonce: str, *, form_origins: Iterable[str] = ()) -> _R:
    """No scripts, no framing, styles by nonce, forms only to this issuer (and
    ``form_origins``: browsers apply form-action to the redirect after a POST too)."""
    form_action = " ".join(["'self'", *form_origins])
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
