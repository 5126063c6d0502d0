"""The OpenAPI 3.1 document served at ``GET /v1/openapi.json``, generated.

Schemas come from the contract models (pydantic's JSON Schema 2020-12, which is OpenAPI
3.1's dialect), operations from the route table. Nothing here is written by hand but the
words: the document's description, the security scheme and what each error status means.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import _answers as out
from ._routes import ROUTES, Route

_REF = "#/components/schemas/{model}"
ID = "^[A-Za-z0-9_]{1,64}$"

#: What each error status means (docs/api.md, "Errors", has the codes).
ERRORS = {
    400: "Invalid request (see the error code)",
    401: "Missing or bad signature, or unknown merchant",
    402: "Credit declined (with a reason code)",
    404: "Unknown id, or another merchant's object",
    405: "Method not allowed",
    409: "Invalid state or duplicate",
    413: "Body over 64 KiB",
    415: "Not JSON",
    422: "Idempotency-Key reused with another request",
    500: "Injected test fault (test mode only)",
}
_SIGNED_POST_ERRORS = (400, 401, 402, 404, 409, 413, 415, 422, 500)
_TEST_ERRORS = (400, 404, 405, 409, 413, 415)

IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    "description": "Same key and body: the stored answer; same key, other body: 422.",
}

_INFO = {
    "title": "paylater mock issuer",
    "version": "1",
    "description": (
        "Every /v1 request is signed by the merchant (Authorization: PAYLATER-ED25519 "
        "mchid=...,nonce_str=...,timestamp=...,serial_no=...,signature=...) and every "
        "response is signed by the issuer (Paylater-* headers). Money is integer minor "
        "units. /_test endpoints exist only in test mode."
    ),
}
_SECURITY = {
    "merchantSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "The WeChat Pay v3 style request signature (see docs/protocol.md).",
    }
}


def openapi_document(*, include_test_controls: bool = True) -> dict[str, Any]:
    """A fresh copy of the document (callers may modify it)."""
    return copy.deepcopy(_document(include_test_controls))


@functools.cache
def _document(include_test_controls: bool) -> dict[str, Any]:
    routes = [r for r in ROUTES if include_test_controls or not r.test_control]
    refs, schemas = _schemas(routes)
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": dict(_INFO),
        "servers": [{"url": "/"}],
        "components": {"schemas": schemas, "securitySchemes": _SECURITY},
        "security": [{"merchantSignature": []}],
        "paths": paths,
    }


def _schemas(routes: list[Route]) -> tuple[dict[type[BaseModel], Any], dict[str, Any]]:
    """Every model the routes use (and the error object) as components, and their refs."""
    models: list[type[BaseModel]] = [out.Error]
    for route in routes:
        for model in (route.body, route.answer.model):
            if model is not None and model not in models:
                models.append(model)
    keyed, defs = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    refs = {model: keyed[(model, "validation")] for model in models}
    return refs, {name: _clean(schema) for name, schema in defs.get("$defs", {}).items()}


def _clean(node: Any) -> Any:
    """Drop what pydantic adds for its own use: titles, and ``default: null`` of optionals."""
    if isinstance(node, dict):
        cleaned: dict[str, Any] = {}
        for key, value in node.items():
            if (key == "title" and isinstance(value, str)) or (key == "default" and value is None):
                continue
            if key == "properties":
                cleaned[key] = {name: _clean(sub) for name, sub in value.items()}
            else:
                cleaned[key] = _clean(value)
        return cleaned
    if isinstance(node, list):
        return [_clean(item) for item in node]
    return node


def _operation(route: Route, refs: dict[type[BaseModel], Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary, "operationId": route.operation_id}
    if route.test_control:
        operation["tags"] = ["test controls"]
    if not route.signed:
        operation["security"] = []
    parameters = [_path_parameter(name) for name in re.findall(r"\{([a-z_]+)\}", route.path)]
    if route.query is not None:
        parameters += _query_parameters(route.query)
    if route.signed and route.method == "POST":
        parameters.append(IDEMPOTENCY)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        required = any(info.is_required() for info in route.body.model_fields.values())
        operation["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": refs[route.body]}},
        }
    answer = route.answer
    content = {"schema": refs[answer.model]} if answer.model is not None else {}
    responses = {
        str(answer.status): {
            "description": answer.description,
            "content": {"application/json": content},
        }
    }
    for status in _errors(route):
        responses[str(status)] = {
            "description": ERRORS[status],
            "content": {"application/json": {"schema": refs[out.Error]}},
        }
    operation["responses"] = responses
    return operation


def _errors(route: Route) -> tuple[int, ...]:
    if route.test_control:
        return _TEST_ERRORS
    if not route.signed:
        return ()
    return _SIGNED_POST_ERRORS if route.method == "POST" else tuple(ERRORS)


def _path_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": ID, "maxLength": 64},
    }


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = _clean(model.model_json_schema())
    parameters = []
    for name, sub in schema["properties"].items():
        parameter = {"name": name, "in": "query", "required": name in schema.get("required", [])}
        description = sub.pop("description", None)
        options = [o for o in sub.pop("anyOf", []) if o.get("type") != "null"]
        if options:  # an optional parameter: absent, never null
            sub.update(options[0])
        parameter["schema"] = sub
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
