"""The settlement bill endpoints: ``GET /v1/bills/trade?date=`` and the bill file.

The download URL is a ``/v1`` route like any other, so it is merchant-authenticated: the
request is signed, and a bill id is only found for the merchant it belongs to (another
merchant's id answers 404, as a made-up one does). A bearer-token URL (the v3 face's, as
WeChat Pay does it) would hand a day of sales to whoever sees the URL in a log or a proxy;
the client signs every request anyway. The id is still unguessable (96 random bits).
The file is the stored gzip bytes, signed like every ``/v1`` answer; the client checks
the SHA-256 the signed bill answer gave.
"""

from __future__ import annotations

from flask import Response, g, request

from ..domain.bills import TradeBills
from ._context import current_issuer as _issuer
from .api import _no_query, _object_id, blueprint
from .contract import serve
from .wire import json_response

__all__: list[str] = []


@serve(blueprint, "getTradeBill")
def trade_bill() -> Response:
    args = _no_query("date")
    bill = TradeBills(_issuer()).fix(g.merchant_id, args.get("date"))
    base = (_issuer().config.public_url or request.url_root).rstrip("/")
    return json_response(
        {
            "download_url": f"{base}/v1/bills/trade/{bill.id}/file",
            "hash_type": "SHA256",
            "hash_value": bill.sha256,
        }
    )


@serve(blueprint, "downloadTradeBill")
def trade_bill_file(bill_id: str) -> Response:
    _no_query()
    content = TradeBills(_issuer()).file(g.merchant_id, _object_id(bill_id))
    return Response(
        content,
        mimetype="application/gzip",
        headers={"Content-Disposition": 'attachment; filename="trade-bill.csv.gz"'},
    )
