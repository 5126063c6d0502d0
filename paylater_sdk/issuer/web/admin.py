"""The operator's view of notification delivery: ``GET /_admin/notifications``.

When a merchant says "we never got the callback", this page answers whether the issuer
sent it, when, how often, and what the merchant's server said. HTML for people, JSON
(``?format=json`` or ``Accept: application/json``) for scripts and tests.

Access: open in test mode (a local sandbox); otherwise only with
``Authorization: Bearer <ADMIN_TOKEN>`` when the ``ADMIN_TOKEN`` setting is configured,
and 404 when it is not, so that a production-like issuer does not advertise the page.
The log never shows resources or keys: only ids, event types, URLs and outcomes.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from ..delivery.outbox import NOTIFICATION_STATES, delivery_log, redeliver
from ._context import current_issuer as _issuer

__all__ = ["blueprint", "bp"]

blueprint = Blueprint("paylater_admin", __name__, template_folder="templates")
bp = blueprint

_ID = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


def _test_mode() -> bool:
    return _issuer().config.test_mode


def _admin_token() -> str | None:
    token = current_app.config.get("ADMIN_TOKEN")
    return token if isinstance(token, str) and token else None


def _wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def _allowed() -> Response | None:
    """None when the caller may see the log, else the refusal to send."""
    if _test_mode():
        return None
    token = _admin_token()
    if token is None:
        return _error(404, "NOT_FOUND", "no such page")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        response = _error(401, "ADMIN_TOKEN_INVALID", "send Authorization: Bearer <ADMIN_TOKEN>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="paylater-admin"'
        return response
    return None


def _arg(name: str) -> str | None:
    """A query parameter; an empty one (the HTML filter form's "any") counts as absent."""
    value = request.args.get(name)
    return value or None


def _parse_args() -> dict[str, Any] | Response:
    known = {"merchant_id", "state", "limit", "format", "id"}
    for name in request.args:
        if name not in known:
            return _error(400, "INVALID_QUERY", f"unknown query parameter {name[:40]!r}", name)
    args: dict[str, Any] = {"limit": 100}
    merchant_id = _arg("merchant_id")
    if merchant_id is not None:
        if not _ID.match(merchant_id):
            return _error(400, "INVALID_QUERY", "merchant_id is not a valid id", "merchant_id")
        args["merchant_id"] = merchant_id
    event_id = _arg("id")
    if event_id is not None:
        if not _ID.match(event_id):
            return _error(400, "INVALID_QUERY", "id is not a valid event id", "id")
        args["event_id"] = event_id
    state = _arg("state")
    if state is not None:
        if state not in NOTIFICATION_STATES:
            allowed = ", ".join(NOTIFICATION_STATES)
            return _error(400, "INVALID_QUERY", f"state must be one of {allowed}", "state")
        args["state"] = state
    limit = _arg("limit")
    if limit is not None:
        if (
            not (limit.isascii() and limit.isdigit())
            or len(limit) > 4
            or not 1 <= int(limit) <= 1000
        ):
            return _error(400, "INVALID_QUERY", "limit must be an integer 1..1000", "limit")
        args["limit"] = int(limit)
    fmt = _arg("format")
    if fmt is not None and fmt not in ("json", "html"):
        return _error(400, "INVALID_QUERY", "format must be json or html", "format")
    return args


@blueprint.route("/_admin/notifications", methods=["GET"])
def notifications_log() -> BaseResponse:
    refusal = _allowed()
    if refusal is not None:
        return refusal
    args = _parse_args()
    if isinstance(args, Response):
        return args
    with _issuer().engine.connect() as conn:
        entries = delivery_log(conn, **args)
    if _wants_json():
        response = jsonify({"data": entries})
    else:
        nonce = secrets.token_urlsafe(16)
        html = render_template(
            "paylater_issuer/admin_notifications.html",
            entries=entries,
            filters=args,
            style_nonce=nonce,
            states=NOTIFICATION_STATES,
            can_resend=_test_mode(),  # a form cannot carry the bearer token
        )
        response = make_response(html, 200)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.route("/_admin/notifications/<event_id>/redeliver", methods=["POST"])
def redeliver_notification(event_id: str) -> BaseResponse:
    """Send a notification again now (a fresh round of retries, the same envelope id).

    Only with the same access as the log: in test mode, or with the bearer token (which a
    browser never attaches by itself, so a cross-site form cannot trigger it outside
    test mode).
    """
    refusal = _allowed()
    if refusal is not None:
        return refusal
    issuer = _issuer()
    found = False
    if _ID.match(event_id):
        with issuer.engine.begin() as conn:
            found = redeliver(conn, event_id, now=issuer.now())
    if not found:
        return _error(404, "NOT_FOUND", "no such notification")
    if _wants_json():
        return jsonify({"id": event_id, "state": "PENDING"})
    return redirect(url_for("paylater_admin.notifications_log", id=event_id), code=303)
