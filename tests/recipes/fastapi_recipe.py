"""FastAPI (or any ASGI framework): receive the issuer's notifications (docs/webhooks.md)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import FastAPI, Request, Response

from paylater_sdk.client import AsyncPayLaterClient
from paylater_sdk.errors import SignatureError

from .shop_db import ShopDB


def create_app(client: AsyncPayLaterClient, db: ShopDB) -> FastAPI:
    app = FastAPI()

    @app.post("/paylater/notify")
    async def paylater_notify(request: Request) -> Response:
        try:
            # no I/O unless the issuer rotated its key; then the refresh is awaited
            event = await client.notifications.parse(request.headers, await request.body())
        except SignatureError:
            return Response(status_code=400)  # not from the issuer: never act on it
        await anyio.to_thread.run_sync(db.apply, event)  # blocking database work off the loop
        return Response(status_code=204)

    return app
