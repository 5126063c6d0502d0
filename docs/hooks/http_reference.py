"""mkdocs hook: render the issuer's OpenAPI document as the HTTP reference page.

The page is Markdown made at build time from ``openapi_document()`` (the same function that
answers ``GET /v1/openapi.json``, generated from the contract models and route table in
``paylater_sdk/issuer/web/contract/``), so it cannot drift from the server, it is indexed by the
site search, and it needs no JavaScript viewer or CDN. The document itself is published
beside it as ``openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "<!-- openapi-reference -->"
METHODS = ("get", "post", "put", "patch", "delete")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type(schema: dict[str, Any]) -> str:
    """A short human reading of a JSON schema: ``string (pattern)``, ``Money``, ..."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#schema-{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(option) for option in schema[key])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    details = []
    if "enum" in schema:
        details.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for key, label in (("minimum", "≥"), ("maximum", "≤")):
        if key in schema:
            details.append(f"{label} {schema[key]}")
    if "maxLength" in schema:
        details.append(f"at most {schema['maxLength']} characters")
    if "pattern" in schema:
        details.append(f"pattern `{schema['pattern']}`")
    if "format" in schema:
        details.append(schema["format"])
    return f"{kind} ({'; '.join(details)})" if details else str(kind)


def _fields(schema: dict[str, Any]) -> list[str]:
    props = schema.get("properties")
    if not props:
        return [f"Body: {_type(schema)}", ""]
    required = set(schema.get("required", []))
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, sub in props.items():
        need = "yes" if name in required else "no"
        lines.append(
            f"| `{name}` | {_cell(_type(sub))} | {need} | {_cell(sub.get('description', ''))} |"
        )
    return [*lines, ""]


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """A request body's schema itself, not its reference: its fields are shown in place."""
    ref = schema.get("$ref", "")
    if not ref.startswith("#/components/schemas/"):
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def _operation(method: str, path: str, op: dict[str, Any], document: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", op.get("summary", ""), ""]
    if op.get("security") == []:
        lines += ["No signature needed.", ""]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in params:
            need = "yes" if p.get("required") else "no"
            lines.append(
                f"| `{p['name']}` | {p['in']} | {_cell(_type(p.get('schema', {})))} | {need} "
                f"| {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        lines += ["Request body:", "", *_fields(_resolve(body["schema"], document))]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, answer in op.get("responses", {}).items():
        content = answer.get("content", {}).get("application/json", {})
        shape = _type(content["schema"]) if "schema" in content else ""
        lines.append(f"| {status} | {_cell(answer.get('description', ''))} | {_cell(shape)} |")
    return [*lines, ""]


def render(document: dict[str, Any]) -> str:
    """The Markdown of the whole reference: every operation, then every schema."""
    info = document["info"]
    lines = [
        f"OpenAPI {document['openapi']}, *{info['title']}* version {info['version']}. "
        "Download the document: [openapi.json](openapi.json) (the issuer also serves it at "
        "`GET /v1/openapi.json`).",
        "",
        info.get("description", ""),
        "",
        "## Operations",
        "",
    ]
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                lines += _operation(method, path, item[method], document)
    lines += ["## Schemas", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines += [f"### {name} {{ #schema-{name.lower()} }}", "", *_fields(schema)]
    return "\n".join(lines)


def _document() -> dict[str, Any]:
    from paylater_sdk.issuer.web.contract import openapi_document

    return openapi_document(include_test_controls=True)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render(_document()))


def on_files(files: Any, config: Any, **_: Any) -> Any:
    """Publish the document itself as openapi.json beside the page."""
    from mkdocs.structure.files import File

    text = json.dumps(_document(), ensure_ascii=False, indent=2)
    files.append(File.generated(config, "openapi.json", content=text))
    return files
