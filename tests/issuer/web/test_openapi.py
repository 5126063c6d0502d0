"""The OpenAPI document matches the implementation: every route is in it, and back."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask

from paylater_sdk.issuer import create_app
from paylater_sdk.issuer.web.contract import ROUTES, openapi_document
from tests._support.issuer import SignedClient

_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app: Flask, prefixes: tuple[str, ...]) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefixes):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - _IGNORED_METHODS:
            found.add((method.lower(), path))
    return found


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_v1_and_test_route_is_documented_and_nothing_else(app: Flask) -> None:
    routes = _routes(app, ("/v1", "/_test"))
    documented = _documented(openapi_document())
    assert routes == documented
    # the endpoint list, spelled out, so that a route removed from both fails here
    assert {
        ("post", "/v1/checkouts"),
        ("get", "/v1/checkouts/{checkout_id}"),
        ("get", "/v1/checkouts"),
        ("post", "/v1/checkouts/{checkout_id}/close"),
        ("post", "/v1/orders/{order_id}/capture"),
        ("post", "/v1/orders/{order_id}/void"),
        ("post", "/v1/refunds"),
        ("get", "/v1/refunds/{refund_id}"),
        ("get", "/v1/plans/quote"),
        ("post", "/v1/credit/eligibility"),
        ("get", "/v1/certificates"),
        ("get", "/v1/openapi.json"),
    } <= routes


def test_the_served_document_is_openapi_3_1_and_signed(api: SignedClient) -> None:
    # unsigned request allowed; the SignedClient still verifies the response signature
    response = api.get("/v1/openapi.json", sign=False)
    assert response.status_code == 200
    served = response.get_json()
    assert served["openapi"] == "3.1.0"
    assert served == openapi_document()


def test_production_mode_documents_no_test_controls(tmp_path: Any, merchant_key: Any) -> None:
    app = create_app({"SECRET_KEY": "s" * 32, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"})
    served = app.test_client().get("/v1/openapi.json").get_json()
    assert not [p for p in served["paths"] if p.startswith("/_test")]
    assert _routes(app, ("/v1", "/_test")) == _documented(served)
    assert app.test_client().post("/_test/reset", json={}).status_code == 404


def test_every_schema_reference_resolves() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                assert ref.startswith("#/components/schemas/")
                assert ref.rsplit("/", 1)[1] in schemas
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


def _schemas(node: Any) -> list[dict[str, Any]]:
    """Every JSON Schema in the document: components, parameters, bodies, responses."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                found.append(value)
            elif key == "schemas" and isinstance(value, dict):
                found.extend(value.values())
            else:
                found.extend(_schemas(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_schemas(value))
    return found


def test_every_schema_is_valid_json_schema_2020_12() -> None:
    """OpenAPI 3.1 schemas are JSON Schema 2020-12; check each against the meta-schema."""
    document = openapi_document()
    schemas = _schemas(document)
    assert len(schemas) > 40
    for schema in schemas:
        jsonschema_rs.meta.validate(
            {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        )
    with pytest.raises(jsonschema_rs.ValidationError):
        jsonschema_rs.meta.validate({"type": "integer", "minimum": "one"})


def test_every_operation_has_a_unique_operation_id() -> None:
    document = openapi_document()
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in {"get", "post"}
    ]
    assert len(ids) == len(set(ids)) == len(ROUTES)  # every row of the route table, once
    assert document["paths"]["/v1/checkouts"]["post"]["operationId"] == "createCheckout"


_OPERATION_KEYS = {"summary", "operationId", "tags", "security", "parameters", "requestBody",
                   "responses"}  # fmt: skip


def test_the_document_is_structurally_valid_openapi_3_1() -> None:
    """The OpenAPI 3.1 rules a generator can get wrong, checked on the generated document
    (no OpenAPI validator is a dependency; the schemas are checked against JSON Schema
    2020-12 above)."""
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    assert isinstance(document["info"]["title"], str)
    assert isinstance(document["info"]["version"], str)
    schemes = document["components"]["securitySchemes"]
    assert [set(item) for item in document["security"]] == [set(schemes)]
    for path, item in document["paths"].items():
        assert path.startswith("/")
        placeholders = set(re.findall(r"\{([a-z_]+)\}", path))
        for method, operation in item.items():
            assert method in {"get", "post"}, (path, method)
            assert set(operation) <= _OPERATION_KEYS, (path, method)
            assert operation["summary"]
            assert operation["operationId"]
            parameters = operation.get("parameters", [])
            keys = [(p["name"], p["in"]) for p in parameters]
            assert len(keys) == len(set(keys))
            for parameter in parameters:
                assert parameter["in"] in {"path", "query", "header"}
                assert isinstance(parameter["schema"], dict)
                if parameter["in"] == "path":
                    assert parameter["required"] is True
            assert {name for name, where in keys if where == "path"} == placeholders
            if "requestBody" in operation:
                assert isinstance(operation["requestBody"]["required"], bool)
                assert "$ref" in operation["requestBody"]["content"]["application/json"]["schema"]
            assert operation["responses"]
            for status, answer in operation["responses"].items():
                assert re.fullmatch(r"[1-5][0-9][0-9]", status), (path, status)
                assert answer["description"]
                # JSON everywhere but the one file download (a gzip bill)
                files = {"/v1/bills/trade/{bill_id}/file"}
                media = {"application/gzip"} if path in files and status == "200" else None
                assert set(answer["content"]) == (media or {"application/json"})
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(schemes)
