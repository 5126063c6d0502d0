"""Flask: receive the issuer's notifications (docs/webhooks.md)."""

from __future__ import annotations

from flask import Flask, request

from paylater_sdk.client import PayLaterClient
from paylater_sdk.errors import SignatureError

from .shop_db import ShopDB


def create_app(client: PayLaterClient, db: ShopDB) -> Flask:
    app = Flask(__name__)

    @app.post("/paylater/notify")
    def paylater_notify() -> tuple[str, int]:
        try:
            # the raw bytes exactly as received: never request.json re-serialized
            event = client.notifications.parse(request.headers, request.get_data())
        except SignatureError:
            return "", 400  # not from the issuer, or altered: never act on it
        db.apply(event)  # once per event id; if this raises, Flask answers 500: retried
        return "", 204  # any 2xx acknowledges, duplicates included

    return app
