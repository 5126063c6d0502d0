"""The operator's servicing view of a buyer: ``GET /_admin/buyers/<id>/servicing``.

Bills (this month's statement), receivables (interest, fees, penalty, late fees, written
off), delinquency and each order's schedule, payments and payoff quote for today, as JSON.
Access is the admin pages' rule (:mod:`.admin`): open in test mode, otherwise only with
the ``ADMIN_TOKEN`` bearer token. :func:`servicing_section` is the same object for a
buyer page that wants to embed it: the credit-decision admin page
(``/_admin/buyers/<id>?format=json``) carries it as its ``servicing`` key.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response

from ..domain import servicing
from ..domain.issuer import Issuer
from ..domain.messages import buyer_messages
from ._context import current_issuer as _issuer
from .admin import _allowed, _error
from .wire import json_response

__all__ = ["blueprint", "servicing_section"]

blueprint = Blueprint("paylater_servicing_admin", __name__, url_prefix="/_admin")

_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def servicing_section(issuer: Issuer, buyer_id: str) -> dict[str, Any]:
    """The ``servicing`` section of a buyer: bills, receivables, delinquency, each order's
    product settings, and the buyer's messages (bucket moves among them), newest last."""
    issuer.sweep()
    view = servicing.servicing_view(
        issuer.engine, buyer_id, today=issuer.now().date(), config=issuer.config
    )
    return {**view, "messages": buyer_messages(issuer.engine, buyer_id)}


@blueprint.get("/buyers/<buyer_id>/servicing")
def buyer_servicing(buyer_id: str) -> Response:
    refused = _allowed()
    if refused is not None:
        return refused
    if not _ID.match(buyer_id):
        return _error(404, "NOT_FOUND", "no such buyer")
    return json_response(servicing_section(_issuer(), buyer_id))
