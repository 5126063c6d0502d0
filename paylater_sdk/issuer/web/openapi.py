"""The OpenAPI 3.1 document served at ``GET /v1/openapi.json``.

Written by hand next to the code it describes and held to it by two tests: every route
of the app appears here (test_openapi.py), and a schemathesis run generates requests
from this document and checks that none yields a 5xx and every answer matches its
schema (test_schemathesis.py).
"""

from __future__ import annotations

import copy
from typing import Any

from ...lifecycle import BuyerStatus, FaultKind
from .openapi_credit import credit_test_paths
from .openapi_parts import (
    EMPTY,
    IDEMPOTENCY,
    SCHEMAS,
    TIME,
    TRADE_NO,
    error_responses,
    obj,
    ok,
    path_param,
    ref,
    request_body,
    signed_get,
    signed_post,
)

__all__ = ["openapi_document"]


def _paths() -> dict[str, Any]:
    checkout_in = obj(
        {
            "out_trade_no": {"type": "string", "pattern": TRADE_NO},
            "amount": ref("Money"),
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
    refund_in = obj(
        {
            "order_id": {"type": "string", "maxLength": 64},
            "amount": ref("Money"),
            "out_refund_no": {"type": "string", "pattern": TRADE_NO},
        },
        {"reason": {"type": ["string", "null"], "maxLength": 256}},
    )
    quote_out = obj(
        {
            "amount": ref("MoneyOut"),
            "plans": {"type": "array", "items": ref("PlanQuote")},
            "as_low_as": {"oneOf": [ref("MoneyOut"), {"type": "null"}]},
        }
    )
    eligibility_out = obj(
        {
            "eligible": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "plans": {"type": "array", "items": ref("PlanQuote")},
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
            "get": signed_get(
                "The issuer's public keys, encrypted to the merchant's API key",
                ok("200", obj({"data": {"type": "array", "items": ref("Certificate")}}), "Keys"),
            )
        },
        "/v1/plans/quote": {
            "get": signed_get(
                "Price every offered plan for an amount",
                ok("200", quote_out, "Quotes"),
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
            "post": signed_post(
                "Can this buyer borrow this amount? (never reveals the limit)",
                obj({"buyer_token": {"type": "string", "maxLength": 80}, "amount": ref("Money")}),
                ok("200", eligibility_out, "Answer with reason codes"),
            )
        },
        "/v1/checkouts": {
            "post": signed_post(
                "Create a checkout", checkout_in, ok("201", ref("Checkout"), "Created")
            ),
            "get": signed_get(
                "Find a checkout by the merchant's out_trade_no",
                ok("200", ref("Checkout"), "The checkout"),
                parameters=[
                    {
                        "name": "out_trade_no",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": TRADE_NO},
                    }
                ],
            ),
        },
        "/v1/checkouts/{checkout_id}": {
            "get": signed_get(
                "Get a checkout",
                ok("200", ref("Checkout"), "The checkout"),
                parameters=[path_param("checkout_id")],
            )
        },
        "/v1/checkouts/{checkout_id}/close": {
            "post": {
                **signed_post(
                    "Close an unauthorized checkout",
                    EMPTY,
                    ok("200", ref("Checkout"), "Closed"),
                    required=False,
                ),
                "parameters": [path_param("checkout_id"), IDEMPOTENCY],
            }
        },
        "/v1/orders/{order_id}/capture": {
            "post": {
                **signed_post(
                    "Capture all or part of an authorization (opens the loan)",
                    obj({}, {"amount": ref("Money")}),
                    ok("200", ref("Order"), "Captured"),
                    required=False,
                ),
                "parameters": [path_param("order_id"), IDEMPOTENCY],
            }
        },
        "/v1/orders/{order_id}/void": {
            "post": {
                **signed_post(
                    "Void an authorization",
                    EMPTY,
                    ok("200", ref("Order"), "Voided"),
                    required=False,
                ),
                "parameters": [path_param("order_id"), IDEMPOTENCY],
            }
        },
        "/v1/refunds": {
            "post": signed_post(
                "Refund part or all of a captured order",
                refund_in,
                ok("201", ref("Refund"), "Refunded"),
            )
        },
        "/v1/refunds/{refund_id}": {
            "get": signed_get(
                "Get a refund",
                ok("200", ref("Refund"), "The refund"),
                parameters=[path_param("refund_id")],
            )
        },
        **_test_paths(),
        **credit_test_paths(),
    }


def _test_post(summary: str, body: dict[str, Any], ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["test controls"],
        "security": [],
        "requestBody": request_body(body, required=False),
        "responses": {**ok, **error_responses("400", "404", "405", "409", "413", "415")},
    }


def _test_paths() -> dict[str, Any]:
    buyer_out = obj(
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
                obj(
                    {"limit": limit},
                    {
                        "phone": {"type": "string", "pattern": "^1[0-9]{10}$"},
                        "single_purchase_max": ref("Money"),
                        "status": {"type": "string", "enum": [b.value for b in BuyerStatus]},
                        "overdue": {"type": "boolean"},
                    },
                ),
                ok("201", buyer_out, "Created"),
            )
        },
        "/_test/clock/advance": {
            "post": _test_post(
                "Move the test clock forward",
                obj({"seconds": {"type": "integer", "minimum": 0, "maximum": 315360000}}),
                ok("200", obj({"now": TIME}), "The new time"),
            )
        },
        "/_test/buyers/{buyer_id}/repay": {
            "post": {
                **_test_post(
                    "Repay the next installment(s) of an order",
                    obj(
                        {"order_id": {"type": "string", "maxLength": 64}}, {"amount": ref("Money")}
                    ),
                    ok(
                        "200",
                        obj(
                            {
                                "order_id": {"type": "string"},
                                "paid": ref("MoneyOut"),
                                "schedule": ref("Schedule"),
                            }
                        ),
                        "Paid",
                    ),
                ),
                "parameters": [path_param("buyer_id")],
            }
        },
        "/_test/faults": {
            "post": _test_post(
                "Make the next N matching requests or notifications fail",
                obj(
                    {
                        "kind": {
                            "type": "string",
                            "enum": [kind.value for kind in FaultKind],
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
                ok("201", {"type": "object"}, "Armed"),
            )
        },
        "/_test/reset": {
            "post": _test_post(
                "Forget buyers, checkouts, notifications, faults and the clock",
                EMPTY,
                ok("200", {"type": "object"}, "Reset"),
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
        "schemas": SCHEMAS,
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


_OPERATION_IDS = {
    ("get", "/v1/openapi.json"): "getOpenAPI",
    ("get", "/v1/certificates"): "listCertificates",
    ("get", "/v1/plans/quote"): "quotePlans",
    ("post", "/v1/credit/eligibility"): "checkEligibility",
    ("post", "/v1/checkouts"): "createCheckout",
    ("get", "/v1/checkouts"): "findCheckout",
    ("get", "/v1/checkouts/{checkout_id}"): "getCheckout",
    ("post", "/v1/checkouts/{checkout_id}/close"): "closeCheckout",
    ("post", "/v1/orders/{order_id}/capture"): "captureOrder",
    ("post", "/v1/orders/{order_id}/void"): "voidOrder",
    ("post", "/v1/refunds"): "createRefund",
    ("get", "/v1/refunds/{refund_id}"): "getRefund",
    ("post", "/_test/buyers"): "testCreateBuyer",
    ("post", "/_test/clock/advance"): "testAdvanceClock",
    ("post", "/_test/buyers/{buyer_id}/repay"): "testRepay",
    ("post", "/_test/faults"): "testInjectFault",
    ("post", "/_test/reset"): "testReset",
}
for (_method, _path), _operation_id in _OPERATION_IDS.items():
    _DOCUMENT["paths"][_path][_method]["operationId"] = _operation_id


def openapi_document(*, include_test_controls: bool = True) -> dict[str, Any]:
    """A fresh copy of the document (callers may modify it)."""
    document = copy.deepcopy(_DOCUMENT)
    if not include_test_controls:
        document["paths"] = {
            p: v for p, v in document["paths"].items() if not p.startswith("/_test")
        }
    return document
