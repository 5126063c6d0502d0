"""The operator's view of a buyer's credit: ``GET /_admin/buyers/<id>`` (HTML, ``?format=json``).

The line (limit, available, held, outstanding, status), the declared figures, and the whole
append-only decision record: model version, pseudonymised inputs, points per factor, caps
applied, result. The phone number is shown masked, as everywhere. Same access rule as the
notification log (:mod:`.admin`): open in test mode, else the ``ADMIN_TOKEN`` bearer.
"""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, make_response, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from ...errors import NotFoundError
from ...lifecycle import AlertAction, RiskRule
from ._context import current_issuer as _issuer
from .admin import _allowed, _error, _wants_json
from .servicing_admin import servicing_section
from .wire import json_response

__all__ = ["blueprint", "secure_admin_page"]

blueprint = Blueprint("paylater_admin_credit", __name__, template_folder="templates")

_BUYER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


def secure_admin_page(template: str, **context: object) -> BaseResponse:
    """An admin HTML page with the strict CSP of the other admin pages."""
    nonce = secrets.token_urlsafe(16)
    html = render_template(f"paylater_issuer/{template}", style_nonce=nonce, **context)
    response = make_response(html, 200)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.route("/_admin/buyers/<buyer_id>", methods=["GET"])
def buyer_record(buyer_id: str) -> BaseResponse:
    refusal = _allowed()
    if refusal is not None:
        return refusal
    unknown = [name for name in request.args if name != "format"]
    if unknown:
        return _error(400, "INVALID_QUERY", f"unknown query parameter {unknown[0][:40]!r}")
    if not _BUYER_ID.match(buyer_id):
        return _error(404, "NOT_FOUND", "no such buyer")
    try:
        record = _issuer().lending.record(buyer_id)
    except NotFoundError:
        return _error(404, "NOT_FOUND", "no such buyer")
    record["servicing"] = servicing_section(_issuer(), buyer_id)
    if _wants_json():
        response = json_response(record)
        response.headers["Cache-Control"] = "no-store"
        return response
    return secure_admin_page("admin_buyer.html", record=record)


_SUBJECT = re.compile(r"^(buyer|merchant|device):[A-Za-z0-9_\-.]{1,64}$")


def _alert_filters() -> dict[str, object] | BaseResponse:
    known = {"rule", "subject", "action", "limit", "format"}
    filters: dict[str, object] = {"limit": 100}
    for name, value in request.args.items():
        if name not in known:
            return _error(400, "INVALID_QUERY", f"unknown query parameter {name[:40]!r}", name)
        if not value or name == "format":
            continue
        if name == "rule" and value not in tuple(RiskRule):
            return _error(400, "INVALID_QUERY", "rule must be one of " + ", ".join(RiskRule), name)
        if name == "action" and value not in tuple(AlertAction):
            allowed = ", ".join(AlertAction)
            return _error(400, "INVALID_QUERY", f"action must be one of {allowed}", name)
        if name == "subject" and not _SUBJECT.match(value):
            return _error(
                400, "INVALID_QUERY", "subject is buyer:<id>, merchant:<id> or device:<hash>", name
            )
        if name == "limit":
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value[:5]) <= 1000:
                return _error(400, "INVALID_QUERY", "limit must be an integer 1..1000", name)
            filters[name] = int(value)
            continue
        filters[name] = value
    return filters


@blueprint.route("/_admin/alerts", methods=["GET"])
def alerts() -> BaseResponse:
    """Risk alerts, newest first; filter by ``rule``, ``subject`` and ``action``."""
    refusal = _allowed()
    if refusal is not None:
        return refusal
    filters = _alert_filters()
    if isinstance(filters, BaseResponse):
        return filters
    found = _issuer().lending.alerts(**filters)
    if _wants_json():
        response = json_response({"data": found})
        response.headers["Cache-Control"] = "no-store"
        return response
    return secure_admin_page(
        "admin_alerts.html",
        alerts=found,
        filters=filters,
        rules=list(RiskRule),
        actions=list(AlertAction),
    )
