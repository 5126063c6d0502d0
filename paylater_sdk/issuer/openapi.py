"""The OpenAPI 3.1 document served at ``GET /v1/openapi.json``.

Written by hand next to the code it describes and held to it by two tests: every route
of the app appears here (test_openapi.py), and a schemathesis run generates requests
from this document and checks that none yields a 5xx and every answer matches its
schema (test_schemathesis.py).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["openapi_document"]

_TRADE_NO = "^[A-Za-z0-9_\\-|*.]{1,64}$"
_ID = "^[A-Za-z0-9_]{1,64}$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_TIME = {"type": "string", "format": "date-time"}
_RATE = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
_STATE = {
    "type": "string",
    "enum": [
        "CREATED",
        "AUTHORIZED",
        "CAPTURED",
        "PARTIALLY_REFUNDED",
        "REFUNDED",
        "CLOSED",
        "EXPIRED",
        "VOIDED",
    ],
}

_SCHEMAS: dict[str, Any] = {
    "Money": _obj(
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
    "PlanQuote": _obj(
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
            "first_payment": _ref("MoneyOut"),
            "regular_payment": _ref("MoneyOut"),
            "total_amount": _ref("MoneyOut"),
            "total_cost": _ref("MoneyOut"),
            "apr": _RATE,
            "effective_annual_rate": _RATE,
        }
    ),
    "Installment": {
        "type": "object",
        "properties": {
            "number": {"type": "integer"},
            "due_date": {"type": "string", "format": "date"},
            "principal": _ref("MoneyOut"),
            "interest": _ref("MoneyOut"),
            "fee": _ref("MoneyOut"),
            "amount": _ref("MoneyOut"),
            "remaining_principal": _ref("MoneyOut"),
            "paid": {"type": "boolean"},
        },
        "required": ["number", "due_date", "principal", "amount", "paid"],
    },
    "Schedule": {
        "type": "object",
        "properties": {
            "installments": {"type": "array", "items": _ref("Installment")},
            "total_amount": _ref("MoneyOut"),
            "total_interest": _ref("MoneyOut"),
            "total_fees": _ref("MoneyOut"),
            "merchant_fee": _ref("MoneyOut"),
            "apr": _RATE,
            "effective_annual_rate": _RATE,
        },
        "required": ["installments", "total_amount"],
    },
    "Order": _obj(
        {
            "id": {"type": "string", "pattern": "^ord_"},
            "checkout_id": {"type": "string", "pattern": "^co_"},
            "out_trade_no": {"type": "string"},
            "state": _STATE,
            "amount": _ref("MoneyOut"),
            "captured_amount": _ref("MoneyOut"),
            "refunded_amount": _ref("MoneyOut"),
            "plan": _ref("PlanQuote"),
            "schedule": {"oneOf": [_ref("Schedule"), {"type": "null"}]},
            "authorized_at": _TIME,
            "authorization_expires_at": _TIME,
            "captured_at": _NULLABLE_TIME,
        }
    ),
    "Checkout": _obj(
        {
            "id": {"type": "string", "pattern": "^co_"},
            "out_trade_no": {"type": "string"},
            "state": _STATE,
            "amount": _ref("MoneyOut"),
            "description": {"type": "string"},
            "notify_url": {"type": "string"},
            "return_url": {"type": "string"},
            "plans": {"type": "array", "items": _ref("PlanQuote")},
            "authorize_url": {"type": "string"},
            "created_at": _TIME,
            "expires_at": _TIME,
            "order": {"oneOf": [_ref("Order"), {"type": "null"}]},
        }
    ),
    "Refund": _obj(
        {
            "id": {"type": "string", "pattern": "^rf_"},
            "order_id": {"type": "string"},
            "out_refund_no": {"type": "string"},
            "amount": _ref("MoneyOut"),
            "reason": {"type": ["string", "null"]},
            "state": {"type": "string", "enum": ["SUCCEEDED"]},
            "created_at": _TIME,
        }
    ),
    "Certificate": _obj(
        {
            "serial_no": {"type": "string"},
            "algorithm": {"type": "string"},
            "effective_time": _TIME,
            "expire_time": _NULLABLE_TIME,
            "encrypt_certificate": _obj(
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

_ERRORS = {
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


def _error_responses(*statuses: str) -> dict[str, Any]:
    chosen = statuses or tuple(_ERRORS)
    return {
        s: {
            "description": _ERRORS.get(s, "Error"),
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for s in chosen
    }


def _ok(status: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": _ID, "maxLength": 64},
    }


_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    "description": "Same key and body: the stored answer; same key, other body: 422.",
}


def _signed_get(summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**ok, **_error_responses()}, **extra}


def _signed_post(
    summary: str, body: dict[str, Any], ok: dict[str, Any], *, required: bool = True
) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [_IDEMPOTENCY],
        "requestBody": _body(body, required),
        "responses": {
            **ok,
            **_error_responses("400", "401", "402", "404", "409", "413", "415", "422", "500"),
        },
    }


_EMPTY = _obj({})


def _paths() -> dict[str, Any]:
    checkout_in = _obj(
        {
            "out_trade_no": {"type": "string", "pattern": _TRADE_NO},
            "amount": _ref("Money"),
            "description": {"type": "string", "minLength": 1, "maxLength": 256},
            "notify_url": {"type": "string", "format": "uri", "maxLength": 512},
            "return_url": {"type": "string", "format": "uri", "maxLength": 512},
        },
        {
            "plans": {
                "type": "array",
                "items": {"type": "string", "maxLength": 64},
                "minItems": 1,
                "maxItems": 20,
            },
            "expires_in": {"type": "integer", "minimum": 60, "maximum": 604800},
        },
    )
    refund_in = _obj(
        {
            "order_id": {"type": "string", "maxLength": 64},
            "amount": _ref("Money"),
            "out_refund_no": {"type": "string", "pattern": _TRADE_NO},
        },
        {"reason": {"type": ["string", "null"], "maxLength": 256}},
    )
    quote_out = _obj(
        {
            "amount": _ref("MoneyOut"),
            "plans": {"type": "array", "items": _ref("PlanQuote")},
            "as_low_as": {"oneOf": [_ref("MoneyOut"), {"type": "null"}]},
        }
    )
    eligibility_out = _obj(
        {
            "eligible": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "plans": {"type": "array", "items": _ref("PlanQuote")},
        }
    )
    return {
        "/v1/openapi.json": {
            "get": {
                "summary": "This document (no signature needed)",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                },
            }
        },
        "/v1/certificates": {
            "get": _signed_get(
                "The issuer's public keys, encrypted to the merchant's API key",
                _ok("200", _obj({"data": {"type": "array", "items": _ref("Certificate")}}), "Keys"),
            )
        },
        "/v1/plans/quote": {
            "get": _signed_get(
                "Price every offered plan for an amount",
                _ok("200", quote_out, "Quotes"),
                parameters=[
                    {
                        "name": "amount",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,14}$"},
                        "description": "minor units",
                    },
                    {
                        "name": "currency",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                    },
                ],
            )
        },
        "/v1/credit/eligibility": {
            "post": _signed_post(
                "Can this buyer borrow this amount? (never reveals the limit)",
                _obj({"buyer_token": {"type": "string", "maxLength": 80}, "amount": _ref("Money")}),
                _ok("200", eligibility_out, "Answer with reason codes"),
            )
        },
        "/v1/checkouts": {
            "post": _signed_post(
                "Create a checkout", checkout_in, _ok("201", _ref("Checkout"), "Created")
            ),
            "get": _signed_get(
                "Find a checkout by the merchant's out_trade_no",
                _ok("200", _ref("Checkout"), "The checkout"),
                parameters=[
                    {
                        "name": "out_trade_no",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": _TRADE_NO},
                    }
                ],
            ),
        },
        "/v1/checkouts/{checkout_id}": {
            "get": _signed_get(
                "Get a checkout",
                _ok("200", _ref("Checkout"), "The checkout"),
                parameters=[_path_param("checkout_id")],
            )
        },
        "/v1/checkouts/{checkout_id}/close": {
            "post": {
                **_signed_post(
                    "Close an unauthorized checkout",
                    _EMPTY,
                    _ok("200", _ref("Checkout"), "Closed"),
                    required=False,
                ),
                "parameters": [_path_param("checkout_id"), _IDEMPOTENCY],
            }
        },
        "/v1/orders/{order_id}/capture": {
            "post": {
                **_signed_post(
                    "Capture all or part of an authorization (opens the loan)",
                    _obj({}, {"amount": _ref("Money")}),
                    _ok("200", _ref("Order"), "Captured"),
                    required=False,
                ),
                "parameters": [_path_param("order_id"), _IDEMPOTENCY],
            }
        },
        "/v1/orders/{order_id}/void": {
            "post": {
                **_signed_post(
                    "Void an authorization",
                    _EMPTY,
                    _ok("200", _ref("Order"), "Voided"),
                    required=False,
                ),
                "parameters": [_path_param("order_id"), _IDEMPOTENCY],
            }
        },
        "/v1/refunds": {
            "post": _signed_post(
                "Refund part or all of a captured order",
                refund_in,
                _ok("201", _ref("Refund"), "Refunded"),
            )
        },
        "/v1/refunds/{refund_id}": {
            "get": _signed_get(
                "Get a refund",
                _ok("200", _ref("Refund"), "The refund"),
                parameters=[_path_param("refund_id")],
            )
        },
        **_test_paths(),
    }


def _test_post(summary: str, body: dict[str, Any], ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["test controls"],
        "security": [],
        "requestBody": _body(body, required=False),
        "responses": {**ok, **_error_responses("400", "404", "405", "409", "413", "415")},
    }


def _test_paths() -> dict[str, Any]:
    buyer_out = _obj(
        {
            "id": {"type": "string"},
            "buyer_token": {"type": "string"},
            "phone": {"type": "string"},
            "test_code": {"type": "string"},
        }
    )
    limit = {
        "type": "object",
        "properties": {
            "value": {"type": "integer", "minimum": 0, "maximum": 10**13},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "required": ["value", "currency"],
        "additionalProperties": False,
    }
    return {
        "/_test/buyers": {
            "post": _test_post(
                "Create a test buyer",
                _obj(
                    {"limit": limit},
                    {
                        "phone": {"type": "string", "pattern": "^1[0-9]{10}$"},
                        "single_purchase_max": _ref("Money"),
                        "status": {"type": "string", "enum": ["ACTIVE", "FROZEN"]},
                        "overdue": {"type": "boolean"},
                    },
                ),
                _ok("201", buyer_out, "Created"),
            )
        },
        "/_test/clock/advance": {
            "post": _test_post(
                "Move the test clock forward",
                _obj({"seconds": {"type": "integer", "minimum": 0, "maximum": 315360000}}),
                _ok("200", _obj({"now": _TIME}), "The new time"),
            )
        },
        "/_test/buyers/{buyer_id}/repay": {
            "post": {
                **_test_post(
                    "Repay the next installment(s) of an order",
                    _obj(
                        {"order_id": {"type": "string", "maxLength": 64}}, {"amount": _ref("Money")}
                    ),
                    _ok(
                        "200",
                        _obj(
                            {
                                "order_id": {"type": "string"},
                                "paid": _ref("MoneyOut"),
                                "schedule": _ref("Schedule"),
                            }
                        ),
                        "Paid",
                    ),
                ),
                "parameters": [_path_param("buyer_id")],
            }
        },
        "/_test/faults": {
            "post": _test_post(
                "Make the next N matching requests or notifications fail",
                _obj(
                    {
                        "kind": {
                            "type": "string",
                            "enum": [
                                "error_500",
                                "timeout",
                                "drop_notification",
                                "duplicate_notification",
                            ],
                        }
                    },
                    {
                        "method": {
                            "type": "string",
                            "enum": ["GET", "POST", "PUT", "DELETE", "PATCH"],
                        },
                        "path_prefix": {"type": ["string", "null"], "maxLength": 256},
                        "count": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ),
                _ok("201", {"type": "object"}, "Armed"),
            )
        },
        "/_test/reset": {
            "post": _test_post(
                "Forget buyers, checkouts, notifications, faults and the clock",
                _EMPTY,
                _ok("200", {"type": "object"}, "Reset"),
            )
        },
    }


_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "paylater mock issuer",
        "version": "1",
        "description": (
            "Every /v1 request is signed by the merchant (Authorization: PAYLATER-ED25519 "
            "mchid=...,nonce_str=...,timestamp=...,serial_no=...,signature=...) and every "
            "response is signed by the issuer (Paylater-* headers). Money is integer minor "
            "units. /_test endpoints exist only in test mode."
        ),
    },
    "servers": [{"url": "/"}],
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {
            "merchantSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "The WeChat Pay v3 style request signature (see docs/protocol.md).",
            }
        },
    },
    "security": [{"merchantSignature": []}],
    "paths": _paths(),
}


def openapi_document(*, include_test_controls: bool = True) -> dict[str, Any]:
    """A fresh copy of the document (callers may modify it)."""
    document = copy.deepcopy(_DOCUMENT)
    if not include_test_controls:
        document["paths"] = {
            p: v for p, v in document["paths"].items() if not p.startswith("/_test")
        }
    return document
