"""Reference Flask merchant: a small shop that sells with 分付-style pay-later checkout.

Run it against a mock issuer with ``paylater demo``; or ``flask --app examples.merchant_flask
run`` with ``SHOP_*`` environment variables (see docs/merchant.md).
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
