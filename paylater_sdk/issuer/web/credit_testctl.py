"""``POST /_test/buyers/apply``: open a credit line through the real decision engine.

The test shortcut of the buyer pages' ``/account/apply`` (docs/credit.md): the same
engine, the same caps, the same decision record. Bad input (a negative or absurd income,
a missing consent, an unknown employment, a malformed profile) is a 400 with the
``field`` and changes nothing; ``"consent": false`` is a valid application, declined with
``NO_CONSENT``. Registered only in test mode, like the other test controls.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from ...lifecycle import Employment
from ..domain.scorecard import Profile
from ._context import current_issuer as _issuer
from .contract import bodies, request_body, serve, success_status
from .wire import bad, json_response, parse_json_body

__all__ = ["blueprint"]

blueprint = Blueprint("paylater_credit_testctl", __name__, url_prefix="/_test")


@serve(blueprint, "testApplyForCredit")
def apply() -> Response:
    if request.args:
        raise bad("INVALID_QUERY", "test controls take no query parameters")
    body = request_body(bodies.ApplyForCredit, parse_json_body())
    profile = None if body.profile is None else Profile(**body.profile.model_dump())
    applied = _issuer().lending.apply(
        phone=body.phone,
        monthly_income=body.monthly_income,
        monthly_debt_payments=body.monthly_debt_payments,
        employment=Employment(body.employment),
        consent=body.consent,
        profile=profile,
    )
    buyer = applied.buyer
    return json_response(
        {
            "id": buyer.id,
            "buyer_token": buyer.buyer_token,
            "phone": buyer.phone,
            "test_code": buyer.test_code,
            "decision": applied.decision.to_json(),
        },
        success_status(),
    )
