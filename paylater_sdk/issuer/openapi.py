"""Placeholder; the full document lands next."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "paylater mock issuer", "version": "1"},
        "paths": {},
    }
