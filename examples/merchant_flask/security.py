"""CSRF protection and admin sign-in, kept small enough to read in one go.

Every POST form carries a per-session random token compared in constant time; the only
exempt endpoint is the issuer's notify hook, which authenticates by signature instead.
Admin pages use HTTP Basic over a password from the configuration (no default).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, request, session

__all__ = ["csrf_token", "init_csrf", "require_admin"]

F = TypeVar("F", bound=Callable[..., Any])

#: Endpoints that authenticate by other means (the issuer's signature).
CSRF_EXEMPT = frozenset({"payments.notify"})


def csrf_token() -> str:
    token = session.get("csrf_token")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf_token"] = token
    return token


def _check_csrf() -> None:
    if request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return
    if request.endpoint in CSRF_EXEMPT:
        return
    expected = session.get("csrf_token")
    sent = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        abort(400, description="表单已过期，请刷新页面后重试 (form expired: reload the page)")


def init_csrf(app: Flask) -> None:
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token


def require_admin(view: F) -> F:
    """HTTP Basic with user ``admin`` and the configured ``ADMIN_PASSWORD``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        auth = request.authorization
        password = str(current_app.config["ADMIN_PASSWORD"])
        ok = (
            auth is not None
            and auth.type == "basic"
            and hmac.compare_digest((auth.username or "").encode(), b"admin")
            and hmac.compare_digest((auth.password or "").encode(), password.encode())
        )
        if not ok:
            return (
                "需要管理员登录 (admin sign-in required)",
                401,
                {"WWW-Authenticate": 'Basic realm="shop admin", charset="UTF-8"'},
            )
        return view(*args, **kwargs)

    return cast(F, wrapper)
