"""Buyer-facing pages: catalogue, product, cart, checkout (plans + eligibility), order.

The amount sent to the issuer is always computed here from the server-side catalogue and
the session cart; the checkout form only chooses a plan among the ones the issuer quoted.
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from paylater_sdk.client.models import Eligibility, Quote
from paylater_sdk.errors import InvalidRequestError, NotFoundError, PayLaterError
from paylater_sdk.money import Money

from . import store
from .app import get_client, get_engine
from .cart import cart_lines, cart_total, clear_cart, set_quantity
from .catalog import CATALOG, get_product
from .labels import ORDER_STATES, REFUND_STATES, as_low_as_plan, cheapest_plan, label
from .payments import refresh_order

__all__ = ["bp"]

bp = Blueprint("shop", __name__)

_QUOTE_TTL = 300.0  # seconds; plan pricing for an amount changes rarely


@bp.app_template_filter("state_label")
def _state_label(state: object) -> tuple[str, str]:
    return label(ORDER_STATES, state)


@bp.app_template_filter("refund_label")
def _refund_label(state: object) -> tuple[str, str]:
    return label(REFUND_STATES, state)


@bp.app_template_global("as_low_as_plan")
def _as_low_as_plan(offer: Quote | None) -> Any:
    return as_low_as_plan(offer.plans, offer.as_low_as) if offer else None


def quote(amount: Money) -> Quote | None:
    """Plans for an amount, cached briefly; None when the issuer cannot be reached."""
    cache: dict[tuple[int, str], tuple[float, Quote]] = current_app.extensions["shop"].setdefault(
        "quotes", {}
    )
    key = (amount.minor, amount.currency)
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < _QUOTE_TTL:
        return hit[1]
    try:
        result = get_client(current_app).plans.quote(amount)
    except PayLaterError:
        current_app.logger.warning("plan quote failed for %s", amount, exc_info=True)
        return None
    cache[key] = (time.monotonic(), result)
    return result


def _remember_order(out_trade_no: str) -> None:
    mine = [n for n in session.get("my_orders", []) if isinstance(n, str)]
    session["my_orders"] = [*mine[-19:], out_trade_no]


@bp.get("/")
def index() -> str:
    items = [(p, quote(p.price)) for p in CATALOG]
    return render_template("index.html", items=items)


@bp.get("/products/<product_id>")
def product(product_id: str) -> str:
    item = get_product(product_id)
    if item is None:
        abort(404)
    return render_template("product.html", product=item, quote=quote(item.price))


def _quantity(raw: str | None) -> int:
    try:
        return int(raw or "1")
    except ValueError:
        abort(400, description="数量必须是整数 (quantity must be a whole number)")


@bp.post("/cart/add")
def cart_add() -> Response:
    try:
        set_quantity(
            request.form.get("product_id", ""), _quantity(request.form.get("quantity")), add=True
        )
    except KeyError:
        abort(404)
    return redirect(url_for("shop.cart"), 303)


@bp.post("/cart/update")
def cart_update() -> Response:
    try:
        set_quantity(request.form.get("product_id", ""), _quantity(request.form.get("quantity")))
    except KeyError:
        abort(404)
    return redirect(url_for("shop.cart"), 303)


@bp.get("/cart")
def cart() -> str:
    lines = cart_lines()
    return render_template("cart.html", lines=lines, total=cart_total(lines))


def _eligibility(amount: Money) -> tuple[Eligibility | None, str | None]:
    """The issuer's answer for the session's buyer token, or a sentence for the page.

    The token is optional: without one the buyer simply signs in at the issuer.
    """
    token = session.get("buyer_token")
    if not isinstance(token, str) or not token:
        return None, None
    try:
        return get_client(current_app).credit.eligibility(token, amount), None
    except (NotFoundError, InvalidRequestError):
        return None, (
            "找不到这个分付账户令牌，请检查，或留空后在分付登录 "
            "(unknown buyer token: check it, or leave it empty and sign in at 分付)"
        )
    except PayLaterError as exc:
        current_app.logger.warning("eligibility check failed: %s", exc)  # one line, no token
        return None, "暂时无法检查资格，可直接支付 (cannot check eligibility now; pay anyway)"


def _render_checkout(error: str | None = None, status: int = 200) -> tuple[str, int]:
    lines = cart_lines()
    total = cart_total(lines)
    offer = quote(total) if total else None
    eligibility, eligibility_error = _eligibility(total) if total else (None, None)
    chosen = request.form.get("plan_id") if request.method == "POST" else None
    preselected = cheapest_plan(offer.plans) if offer else None
    return (
        render_template(
            "checkout.html",
            lines=lines,
            total=total,
            quote=offer,
            eligibility=eligibility,
            eligibility_error=eligibility_error,
            selected=chosen or (preselected.plan_id if preselected else None),
            buyer_token=session.get("buyer_token", ""),
            error=error,
        ),
        status,
    )


@bp.get("/checkout")
def checkout() -> Any:
    if not cart_lines():
        return redirect(url_for("shop.cart"), 303)
    return _render_checkout()


@bp.post("/checkout/eligibility")
def checkout_eligibility() -> Response:
    token = request.form.get("buyer_token", "").strip()
    if token:
        session["buyer_token"] = token[:128]
    else:
        session.pop("buyer_token", None)
    return redirect(url_for("shop.checkout", _anchor="eligibility"), 303)


def _external(endpoint: str) -> str:
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return str(base).rstrip("/") + url_for(endpoint)
    return url_for(endpoint, _external=True)


@bp.post("/checkout/pay")
def pay() -> Any:
    lines = cart_lines()
    total = cart_total(lines)
    if total is None:
        return redirect(url_for("shop.cart"), 303)
    offer = quote(total)
    if offer is None:
        return _render_checkout(
            "分付暂时不可用，请稍后再试 (pay-later is unavailable, try later)", 503
        )
    plan_id = request.form.get("plan_id", "")
    if plan_id not in {p.plan_id for p in offer.plans}:
        return _render_checkout("请选择一个分期方案 (choose one of the plans)", 400)
    eligibility, _ = _eligibility(total)
    if eligibility is not None and not eligibility.eligible:
        return _render_checkout("分付暂不可用于此订单 (not eligible for this order)", 402)

    out_trade_no = store.new_out_trade_no()
    description = "、".join(f"{ln.product.name}×{ln.quantity}" for ln in lines)[:120]
    engine = get_engine(current_app)
    store.create_order(
        engine,
        out_trade_no=out_trade_no,
        description=description,
        lines=[ln.to_record() for ln in lines],
        amount=total,
    )
    try:
        created = get_client(current_app).checkouts.create(
            out_trade_no=out_trade_no,
            amount=total,
            description=description,
            notify_url=_external("payments.notify"),
            return_url=_external("payments.return_"),
            plans=[plan_id],
            idempotency_key=f"checkout-{out_trade_no}",
        )
    except PayLaterError as exc:
        current_app.logger.warning("checkout creation failed: %s", exc)
        return _render_checkout("创建分付订单失败，请重试 (could not start pay-later, retry)", 502)
    store.attach_checkout(engine, out_trade_no, created.id, created.authorize_url)
    _remember_order(out_trade_no)
    clear_cart()
    return redirect(created.authorize_url, 303)


@bp.get("/orders/<out_trade_no>")
def order(out_trade_no: str) -> str:
    if out_trade_no not in session.get("my_orders", []):
        abort(404)
    engine = get_engine(current_app)
    row = store.get_order(engine, out_trade_no)
    if row is None:
        abort(404)
    stale = False
    if row["checkout_id"]:
        # The page shows the issuer's truth (repayments flip "paid" without a notification).
        stale = not refresh_order(row)
        row = store.get_order(engine, out_trade_no) or row
    if stale:
        flash("无法连接分付，显示的是上次同步的状态 (showing the last known state)", "warning")
    cancelled = False
    if row["state"] == "CREATED" and row["checkout_id"] and not stale:
        # Only the issuer's redirect brings a buyer here before paying: they came back
        # without confirming (cancelled, or left the consent page).
        cancelled = _abandon(row)
        row = store.get_order(engine, out_trade_no) or row
    planned = store.planned_installments(row["plan"]) if row["plan"] and not row["schedule"] else []
    refunds = store.list_refunds(engine, out_trade_no)
    refunded = sum(r["amount_minor"] for r in refunds if r["state"] == "SUCCEEDED")
    return render_template(
        "order.html",
        order=row,
        planned=planned,
        refunds=refunds,
        refunded_minor=max(refunded, row["refunded_minor"]),
        cancelled=cancelled,
    )


def _abandon(row: dict[str, Any]) -> bool:
    """Close the unconfirmed checkout at the issuer and put its lines back in the cart.

    The buyer can try again at once; a checkout left open would otherwise stay payable until
    it expires. If the issuer cannot be reached the cart is restored all the same, and the
    checkout expires on its own (reconciliation then closes the order).
    """
    try:
        closed = get_client(current_app).checkouts.close(row["checkout_id"])
    except PayLaterError as exc:
        current_app.logger.warning("could not close checkout of %s: %s", row["out_trade_no"], exc)
    else:
        with get_engine(current_app).begin() as conn:
            store.apply_checkout(conn, closed.raw)
    for line in row["lines"]:
        try:
            set_quantity(str(line["product_id"]), int(line["quantity"]))  # idempotent
        except KeyError:
            continue  # a product no longer sold
    return True
