"""The one way a web module reaches the issuer behind the app serving the request."""

from __future__ import annotations

from flask import Flask, current_app

from ..domain.issuer import Issuer

#: Where :func:`paylater_sdk.issuer.create_app` keeps the app's :class:`Issuer`.
EXTENSION = "paylater_issuer"


def issuer_of(app: Flask) -> Issuer:
    issuer: Issuer = app.extensions[EXTENSION]
    return issuer


def current_issuer() -> Issuer:
    """The issuer of the app handling the current request."""
    return issuer_of(current_app._get_current_object())  # type: ignore[attr-defined]
