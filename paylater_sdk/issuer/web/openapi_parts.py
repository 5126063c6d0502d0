"""Building blocks of the OpenAPI document: component schemas and operation helpers."""

from __future__ import annotations

from typing import Any

from ...lifecycle import CheckoutState, RefundState

__all__ = [
    "EMPTY",
    "ERRORS",
    "ID",
    "IDEMPOTENCY",
    "NULLABLE_TIME",
    "RATE",
    "SCHEMAS",
    "STATE",
    "TIME",
    "TRADE_NO",
    "error_responses",
    "obj",
    "ok",
    "path_param",
    "ref",
    "request_body",
    "signed_get",
    "signed_post",
]

TRADE_NO = "^[A-Za-z0-9_\\-|*.]{1,64}$"
ID = "^[A-Za-z0-9_]{1,64}$"


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}
RATE = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
STATE = {
    "type": "string",
    "enum": [s.value for s in CheckoutState if s is not CheckoutState.UNKNOWN],
}

SCHEMAS: dict[str, Any] = {
    "Money": obj(
        {
            "value": {"type": "integer", "minimum": 1, "maximum": 10**13},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "example": "CNY"},
        }
    ),
    "MoneyOut": {
        "type": "object",
        "properties": {
            "value": {"type": "integer"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "required": ["value", "currency"],
        "additionalProperties": False,
    },
    "Error": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "request_id": {"type": ["string", "null"]},
            "field": {"type": "string"},
            "reason": {"type": "string"},
        },
        "required": ["code", "message", "request_id"],
    },
    "PlanQuote": obj(
        {
            "plan_id": {"type": "string"},
            "name": {"type": "string"},
            "method": {
                "type": "string",
                "enum": [
                    "EQUAL_PAYMENT",
                    "EQUAL_PRINCIPAL",
                    "FLAT_FEE",
                    "INTEREST_FREE",
                    "PAY_IN_4",
                ],
            },
            "periods": {"type": "integer", "minimum": 1},
            "frequency": {"type": "string", "enum": ["MONTHLY", "BIWEEKLY"]},
            "fee_payer": {"type": "string", "enum": ["BUYER", "MERCHANT"]},
            "first_payment": ref("MoneyOut"),
            "regular_payment": ref("MoneyOut"),
            "total_amount": ref("MoneyOut"),
            "total_cost": ref("MoneyOut"),
            "apr": RATE,
            "effective_annual_rate": RATE,
        }
    ),
    "Installment": {
        "type": "object",
        "properties": {
            "number": {"type": "integer"},
            "due_date": {"type": "string", "format": "date"},
            "principal": ref("MoneyOut"),
            "interest": ref("MoneyOut"),
            "fee": ref("MoneyOut"),
            "amount": ref("MoneyOut"),
            "remaining_principal": ref("MoneyOut"),
            "paid": {"type": "boolean"},
        },
        "required": ["number", "due_date", "principal", "amount", "paid"],
    },
    "Schedule": {
        "type": "object",
        "properties": {
            "principal": ref("MoneyOut"),
            "start_date": {"type": "string", "format": "date"},
            "terms": {
                "type": "object",
                "description": "The plan terms re-planning after a refund or payoff needs.",
                "properties": {
                    "method": {"type": "string"},
                    "periods": {"type": "integer", "minimum": 1},
                    "frequency": {"type": "string", "enum": ["MONTHLY", "BIWEEKLY"]},
                    "fee_payer": {"type": "string", "enum": ["BUYER", "MERCHANT"]},
                    "annual_rate": RATE,
                    "fee_rate_per_period": RATE,
                    "merchant_fee_rate": RATE,
                    "due_day": {"type": ["integer", "null"]},
                },
            },
            "installments": {"type": "array", "items": ref("Installment")},
            "total_amount": ref("MoneyOut"),
            "total_interest": ref("MoneyOut"),
            "total_fees": ref("MoneyOut"),
            "merchant_fee": ref("MoneyOut"),
            "apr": RATE,
            "effective_annual_rate": RATE,
            "refunds": {
                "type": "array",
                "description": "Refunds that re-planned the schedule (only when there are any); "
                "the APR counts each as a credit on its date.",
                "items": {
                    "type": "object",
                    "properties": {
                        "date": {"type": "string", "format": "date"},
                        "amount": ref("MoneyOut"),
                    },
                    "required": ["date", "amount"],
                },
            },
        },
        "required": ["installments", "total_amount"],
    },
    "Order": obj(
        {
            "id": {"type": "string", "pattern": "^ord_"},
            "checkout_id": {"type": "string", "pattern": "^co_"},
            "out_trade_no": {"type": "string"},
            "state": STATE,
            "amount": ref("MoneyOut"),
            "captured_amount": ref("MoneyOut"),
            "refunded_amount": ref("MoneyOut"),
            "plan": ref("PlanQuote"),
            "schedule": {"oneOf": [ref("Schedule"), {"type": "null"}]},
            "authorized_at": TIME,
            "authorization_expires_at": TIME,
            "captured_at": NULLABLE_TIME,
        }
    ),
    "Checkout": obj(
        {
            "id": {"type": "string", "pattern": "^co_"},
            "out_trade_no": {"type": "string"},
            "state": STATE,
            "amount": ref("MoneyOut"),
            "description": {"type": "string"},
            "notify_url": {"type": "string"},
            "return_url": {"type": "string"},
            "plans": {"type": "array", "items": ref("PlanQuote")},
            "authorize_url": {"type": "string"},
            "created_at": TIME,
            "expires_at": TIME,
            "order": {"oneOf": [ref("Order"), {"type": "null"}]},
        }
    ),
    "Refund": obj(
        {
            "id": {"type": "string", "pattern": "^rf_"},
            "order_id": {"type": "string"},
            "out_refund_no": {"type": "string"},
            "amount": ref("MoneyOut"),
            "reason": {"type": ["string", "null"]},
            "state": {"type": "string", "enum": [RefundState.SUCCEEDED.value]},
            "created_at": TIME,
        }
    ),
    "Certificate": obj(
        {
            "serial_no": {"type": "string"},
            "algorithm": {"type": "string"},
            "effective_time": TIME,
            "expire_time": NULLABLE_TIME,
            "encrypt_certificate": obj(
                {
                    "algorithm": {"type": "string", "const": "AEAD_AES_256_GCM"},
                    "nonce": {"type": "string"},
                    "associated_data": {"type": "string"},
                    "ciphertext": {"type": "string"},
                },
                {"original_type": {"type": "string"}},
            ),
        }
    ),
}

ERRORS = {
    "400": "Invalid request (see the error code)",
    "401": "Missing or bad signature, or unknown merchant",
    "402": "Credit declined (with a reason code)",
    "404": "Unknown id, or another merchant's object",
    "405": "Method not allowed",
    "409": "Invalid state or duplicate",
    "413": "Body over 64 KiB",
    "415": "Not JSON",
    "422": "Idempotency-Key reused with another request",
    "500": "Injected test fault (test mode only)",
}


def error_responses(*statuses: str) -> dict[str, Any]:
    chosen = statuses or tuple(ERRORS)
    return {
        s: {
            "description": ERRORS.get(s, "Error"),
            "content": {"application/json": {"schema": ref("Error")}},
        }
        for s in chosen
    }


def ok(status: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def request_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def path_param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": ID, "maxLength": 64},
    }


IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    "description": "Same key and body: the stored answer; same key, other body: 422.",
}


def signed_get(summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**ok, **error_responses()}, **extra}


def signed_post(
    summary: str, body: dict[str, Any], ok: dict[str, Any], *, required: bool = True
) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [IDEMPOTENCY],
        "requestBody": request_body(body, required),
        "responses": {
            **ok,
            **error_responses("400", "401", "402", "404", "409", "413", "415", "422", "500"),
        },
    }


EMPTY = obj({})
