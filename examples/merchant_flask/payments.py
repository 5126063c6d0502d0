"""Payment callbacks: the buyer's return and the issuer's notification hook.

Neither trusts its input. The return URL is just a browser redirect anyone can forge, so it
only triggers a signed query to the issuer. The notification is verified and decrypted by
``client.notifications.parse`` over the raw body bytes (re-serialized JSON would not verify),
then applied at most once per notification id.

The hook is unauthenticated until the signature is checked, so the body is capped at
:data:`NOTIFY_MAX_BYTES` before it is read: a larger ``Content-Length`` is refused with 413
without reading anything, and a body without one (chunked) is read to at most one byte past
the cap. A genuine notification is a few KiB.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response

from paylater_sdk.client.models import Checkout, Refund
from paylater_sdk.errors import NotFoundError, PayLaterError, SignatureError

from . import store
from .app import get_client, get_engine
from .db import orders

__all__ = ["NOTIFY_MAX_BYTES", "bp", "read_capped_body", "refresh_order"]

bp = Blueprint("payments", __name__, url_prefix="/pay")

#: The largest notification body the shop reads (64 KiB; a real one is a few KiB).
NOTIFY_MAX_BYTES = 64 * 1024
_CHUNK = 16 * 1024


def refresh_order(row: dict[str, Any]) -> bool:
    """Re-read the order's checkout from the issuer and apply it. False if unreachable."""
    try:
        checkout = get_client(current_app).checkouts.get(row["checkout_id"])
    except NotFoundError:
        current_app.logger.error("issuer does not know checkout of %s", row["out_trade_no"])
        return False
    except PayLaterError as exc:
        current_app.logger.warning("could not refresh %s: %s", row["out_trade_no"], exc)
        return False
    with get_engine(current_app).begin() as conn:
        store.apply_checkout(conn, checkout.raw)
    return True


@bp.get("/return", endpoint="return_")
def return_() -> Response:
    out_trade_no = request.args.get("out_trade_no", "")
    row = store.get_order(get_engine(current_app), out_trade_no) if out_trade_no else None
    if row is None or not row["checkout_id"]:
        abort(404)
    if out_trade_no not in session.get("my_orders", []):
        # Another browser (or a forged link): show nothing about the order.
        abort(404)
    refresh_order(row)
    return redirect(url_for("shop.order", out_trade_no=out_trade_no), 303)


def _order_for_refund(conn: sa.Connection, refund: Refund) -> str | None:
    found = conn.execute(
        sa.select(orders.c.out_trade_no).where(orders.c.order_id == refund.order_id)
    ).first()
    return None if found is None else str(found[0])


def read_capped_body(limit: int) -> bytes | None:
    """The request body, or None if it is longer than ``limit`` bytes.

    Never reads more than ``limit + 1`` bytes: the declared length is checked first, and
    a stream without one (chunked) is read in small pieces until it ends or passes the cap.
    ``request.stream`` is Werkzeug's safe stream (bounded by Content-Length; empty when
    the server neither sent a length nor terminates the input).
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    stream = request.stream
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        part = stream.read(min(_CHUNK, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        return None
    return b"".join(parts)


@bp.post("/notify")
def notify() -> tuple[str, int]:
    body = read_capped_body(NOTIFY_MAX_BYTES)
    if body is None:
        # Before any signature check, so no log of the content; the issuer never sends this.
        current_app.logger.warning("refused a notification body over %d bytes", NOTIFY_MAX_BYTES)
        return "notification too large", 413
    try:
        event = get_client(current_app).notifications.parse(dict(request.headers), body)
    except SignatureError as exc:
        # 4xx makes the issuer retry; a forged message never reaches the database.
        current_app.logger.warning("rejected notification: %s", exc)
        return "bad signature", 401
    except PayLaterError as exc:
        current_app.logger.warning("unreadable notification: %s", exc)
        return "bad notification", 400

    resource = event.resource
    # One transaction: the id insert and the state change commit together, or neither does.
    # A duplicate id (even one being processed concurrently) is "already done": record_event
    # waits for the other delivery and then answers False. Any other database error is a
    # 500, so the issuer retries instead of the news being acknowledged and lost.
    with get_engine(current_app).begin() as conn:
        if isinstance(resource, Checkout):
            out_trade_no: str | None = resource.out_trade_no
        elif isinstance(resource, Refund):
            out_trade_no = _order_for_refund(conn, resource)
            if out_trade_no is None:
                # The order's authorization is not recorded yet (its notification may be
                # in flight right now): not acknowledged, so the issuer delivers it again.
                return "order not known yet", 409
        else:
            out_trade_no = None
        if not store.record_event(
            conn,
            event_id=event.id,
            event_type=event.event_type.value,
            out_trade_no=out_trade_no,
        ):
            return "", 204
        if isinstance(resource, Checkout):
            store.apply_checkout(conn, resource.raw)
        elif isinstance(resource, Refund) and out_trade_no is not None:  # always known here
            store.record_refund(
                conn,
                out_refund_no=resource.out_refund_no,
                out_trade_no=out_trade_no,
                amount=resource.amount,
                state=resource.state.value,
                refund_id=resource.id,
                reason=resource.reason,
            )
    return "", 204
