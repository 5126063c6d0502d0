"""The application factory: configuration checks, the client, storage and blueprints.

Secrets have no defaults: the shop refuses to start without a secret key, an admin password
and the merchant's keys, so a copy-pasted example can never go live with a known secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from paylater_sdk.client import PayLaterClient
from paylater_sdk.errors import ConfigurationError
from paylater_sdk.money import Money

from . import db
from .security import init_csrf

__all__ = ["create_app", "get_client", "get_engine"]

_REQUIRED_SECRETS = ("SECRET_KEY", "ADMIN_PASSWORD")
_CLIENT_KEYS = (
    "PAYLATER_BASE_URL",
    "PAYLATER_MERCHANT_ID",
    "PAYLATER_PRIVATE_KEY",
    "PAYLATER_API_KEY",
)


def _read_pem(value: Any) -> bytes:
    """A PEM given inline (str/bytes) or as a path to a file."""
    if isinstance(value, bytes):
        return value
    text = str(value)
    if "-----BEGIN" in text:
        return text.encode()
    return Path(text).read_bytes()


def _build_client(config: Mapping[str, Any]) -> PayLaterClient:
    from paylater_sdk.signing import load_private_key, load_public_key, serial_for

    missing = [k for k in _CLIENT_KEYS if not config.get(k)]
    if missing:
        raise ConfigurationError(
            f"the shop needs {', '.join(missing)} (or a ready PAYLATER_CLIENT) to talk to the "
            "issuer; set them in the config mapping or as SHOP_<NAME> environment variables"
        )
    private_key = load_private_key(_read_pem(config["PAYLATER_PRIVATE_KEY"]))
    serial = config.get("PAYLATER_KEY_SERIAL") or serial_for(private_key.public_key())
    issuer_keys = config.get("PAYLATER_ISSUER_KEYS")
    if issuer_keys:
        issuer_keys = [load_public_key(_read_pem(k)) for k in issuer_keys]
    return PayLaterClient(
        str(config["PAYLATER_BASE_URL"]),
        merchant_id=str(config["PAYLATER_MERCHANT_ID"]),
        private_key=private_key,
        key_serial=str(serial),
        # str(): from_prefixed_env JSON-decodes values, so an all-digit key becomes an int.
        api_key=config["PAYLATER_API_KEY"]
        if isinstance(config["PAYLATER_API_KEY"], bytes)
        else str(config["PAYLATER_API_KEY"]),
        issuer_keys=issuer_keys or None,
    )


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the shop. Without ``config`` it reads ``SHOP_*`` environment variables.

    Keys: ``SECRET_KEY``, ``ADMIN_PASSWORD`` (required); either ``PAYLATER_CLIENT`` (a ready
    :class:`PayLaterClient`) or ``PAYLATER_BASE_URL``, ``PAYLATER_MERCHANT_ID``,
    ``PAYLATER_PRIVATE_KEY`` (PEM or path), ``PAYLATER_API_KEY``, optional
    ``PAYLATER_KEY_SERIAL`` and ``PAYLATER_ISSUER_KEYS``; ``DATABASE_URL`` (default a
    SQLite file in the instance folder); ``PUBLIC_URL`` (the shop's external base URL used
    for notify and return URLs; default the request's host).
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        DATABASE_URL=None,
        PUBLIC_URL=None,
        PAYLATER_CLIENT=None,
        # Cookies ignore ports: on one host (the demo on 127.0.0.1) the issuer's "session"
        # cookie would overwrite the shop's cart and CSRF token.
        SESSION_COOKIE_NAME="shop_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    if config is None:
        app.config.from_prefixed_env("SHOP")
    else:
        app.config.update(config)

    for key in _REQUIRED_SECRETS:
        value = app.config.get(key)
        if isinstance(value, int | float):  # an all-digit environment value, JSON-decoded
            value = app.config[key] = str(value)
        if not value or len(str(value)) < 8:
            raise ConfigurationError(
                f"{key} is required and must be at least 8 characters; the shop has no "
                "default secrets (set it in the config or as SHOP_" + key + ")"
            )
    client = app.config.get("PAYLATER_CLIENT") or _build_client(app.config)

    url = app.config.get("DATABASE_URL")
    if not url:
        os.makedirs(app.instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(app.instance_path, "shop.sqlite3")
    engine = db.create_engine(str(url))
    app.extensions["shop"] = {"client": client, "engine": engine}

    app.jinja_env.autoescape = True
    app.jinja_env.filters["yuan"] = format_yuan
    app.jinja_env.filters["minor_yuan"] = format_minor
    app.jinja_env.filters["percent"] = format_percent
    init_csrf(app)

    from .admin import bp as admin_bp
    from .payments import bp as payments_bp
    from .reconcile import reconcile_command
    from .shop import bp as shop_bp

    app.register_blueprint(shop_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(admin_bp)
    app.cli.add_command(reconcile_command)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", error=exc), exc.code or 500

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # No inline script or style anywhere, so a strict policy costs nothing. No
        # form-action: Chromium applies it to the pay form's redirect to the issuer.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        )
        return response

    return app


def get_client(app: Flask) -> PayLaterClient:
    client: PayLaterClient = app.extensions["shop"]["client"]
    return client


def get_engine(app: Flask) -> Any:
    return app.extensions["shop"]["engine"]


def format_yuan(money: Money | None) -> str:
    """¥1,234.50: the sign the buyer knows, exact digits from Money."""
    if money is None:
        return "-"
    return f"¥{money.amount:,}" if money.currency == "CNY" else f"{money.amount:,} {money.currency}"


def format_minor(minor: int, currency: str = "CNY") -> str:
    return format_yuan(Money.from_minor(int(minor), currency))


def format_percent(rate: Decimal | str | None) -> str:
    """An APR fraction as a percentage with two decimals ("0.1235" -> "12.35%")."""
    if rate is None or rate == "":
        return "-"
    value = (Decimal(str(rate)) * 100).quantize(Decimal("0.01"))
    return f"{value}%"
