"""The OpenAPI description of the credit test control (``POST /_test/buyers/apply``)."""

from __future__ import annotations

from typing import Any

from ...lifecycle import CreditGrade, DecisionReason, Employment
from .openapi_parts import error_responses, obj, ok, ref, request_body

__all__ = ["credit_test_paths"]

_MONTHLY = {
    "type": "object",
    "properties": {
        "value": {"type": "integer", "minimum": 0, "maximum": 10_000_000_00},
        "currency": {"type": "string", "enum": ["CNY"]},
    },
    "required": ["value", "currency"],
    "additionalProperties": False,
}


def _count(high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": high}


def credit_test_paths() -> dict[str, Any]:
    """``/_test/buyers/apply``: request, the 201 answer with its ``decision``, errors."""
    profile = obj(
        {
            "payment_history_score": _count(100),
            "months_since_first_credit": _count(1200),
            "active_credit_lines": _count(1000),
            "defaults_last_24_months": _count(1000),
        }
    )
    decision = obj(
        {
            "approved": {"type": "boolean"},
            "limit": ref("MoneyOut"),
            "grade": {"type": ["string", "null"], "enum": [*(g.value for g in CreditGrade), None]},
            "reasons": {
                "type": "array",
                "maxItems": 3,
                "items": {"type": "string", "enum": [r.value for r in DecisionReason]},
            },
            "model_version": {"type": "string"},
        }
    )
    body = obj(
        {
            "phone": {"type": "string", "pattern": "^1[0-9]{10}$"},
            "monthly_income": _MONTHLY,
            "monthly_debt_payments": _MONTHLY,
            "employment": {"type": "string", "enum": [e.value for e in Employment]},
            "consent": {"type": "boolean"},
        },
        {"profile": profile},
    )
    answer = obj(
        {
            "id": {"type": "string"},
            "buyer_token": {"type": "string"},
            "phone": {"type": "string"},
            "test_code": {"type": "string"},
            "decision": decision,
        }
    )
    return {
        "/_test/buyers/apply": {
            "post": {
                "summary": "Apply for a credit line (the decision engine of /account/apply)",
                "tags": ["test controls"],
                "security": [],
                "operationId": "testApplyForCredit",
                "requestBody": request_body(body),
                "responses": {
                    **ok("201", answer, "The applicant and the decision"),
                    **error_responses("400", "405", "409", "413", "415"),
                },
            }
        }
    }
