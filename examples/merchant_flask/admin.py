"""Back office: orders by state, capture on shipping, void, refunds, reconciliation.

Every action calls the issuer and then re-reads the checkout, so the page always shows the
issuer's state rather than what the shop hoped would happen.
"""

from __future__ import annotations

from typing import Any

import requests
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from paylater_sdk.errors import ConflictError, MoneyError, PayLaterError
from paylater_sdk.money import Money

from . import store
from .app import format_yuan, get_client, get_engine
from .labels import refusal
from .payments import refresh_order
from .reconcile import reconcile
from .security import require_admin

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@require_admin
def orders() -> str:
    state = request.args.get("state") or None
    if state is not None and state not in store.STATES:
        abort(400, description="unknown state")
    rows = store.list_orders(get_engine(current_app), state=state)
    return render_template(
        "admin/orders.html",
        orders=rows,
        state=state,
        states=store.STATES,
    )


def _row(out_trade_no: str) -> dict[str, Any]:
    row = store.get_order(get_engine(current_app), out_trade_no)
    if row is None:
        abort(404)
    return row


@bp.get("/orders/<out_trade_no>")
@require_admin
def order(out_trade_no: str) -> str:
    row = _row(out_trade_no)
    engine = get_engine(current_app)
    return render_template(
        "admin/order.html",
        order=row,
        refunds=store.list_refunds(engine, out_trade_no),
        events=store.order_events(engine, out_trade_no),
        next_refund_no=store.new_out_refund_no(out_trade_no),
    )


def _amount(row: dict[str, Any], field: str, *, required: bool) -> Money | None:
    # The same format the pages show (¥1,299.00) is accepted back, as is 1299.00.
    raw = request.form.get(field, "").strip().lstrip("¥").replace(",", "").strip()
    if not raw:
        if required:
            raise MoneyError("请输入金额 (enter an amount)")
        return None
    amount = Money(raw, row["currency"])
    if amount.minor <= 0:
        raise MoneyError("金额必须大于 0 (amount must be positive)")
    return amount


def _done(out_trade_no: str) -> Response:
    return redirect(url_for("admin.order", out_trade_no=out_trade_no), 303)


def _act(row: dict[str, Any], action: str) -> None:
    client = get_client(current_app)
    if not row["order_id"]:
        raise ConflictError("该订单尚未授权 (the buyer has not authorized this order)")
    if action == "capture":
        captured = client.orders.capture(
            row["order_id"], amount=_amount(row, "amount", required=False)
        )
        flash(f"已确认收款 {format_yuan(captured.captured_amount)} captured", "success")
    elif action == "void":
        client.orders.void(row["order_id"])
        flash("已取消授权 authorization voided", "success")
    elif action == "refund":
        amount = _amount(row, "amount", required=True)
        assert amount is not None
        out_refund_no = request.form.get("out_refund_no", "")[:64]
        if not out_refund_no.startswith(row["out_trade_no"] + "-R"):
            abort(400, description="bad refund number")
        reason = request.form.get("reason", "").strip()[:80] or None
        refund = client.refunds.create(row["order_id"], amount, out_refund_no, reason=reason)
        with get_engine(current_app).begin() as conn:
            store.record_refund(
                conn,
                out_refund_no=out_refund_no,
                out_trade_no=row["out_trade_no"],
                amount=refund.amount,
                state=refund.state.value,
                refund_id=refund.id,
                reason=reason,
            )
        flash(f"已退款 {format_yuan(refund.amount)} refunded", "success")


@bp.post("/orders/<out_trade_no>/<action>")
@require_admin
def act(out_trade_no: str, action: str) -> Response | str:
    if action not in {"capture", "void", "refund", "refresh"}:
        abort(404)
    row = _row(out_trade_no)
    if not row["order_id"] and row["checkout_id"]:
        # The buyer may have authorized without the shop hearing yet: ask before acting.
        refresh_order(row)
        row = _row(out_trade_no)
    if action == "void" and request.form.get("confirm") != "yes" and row["order_id"]:
        # Voiding cannot be undone: the buyer's hold is released and the order is over.
        return render_template("admin/confirm_void.html", order=row)
    try:
        if action != "refresh":
            _act(row, action)
    except MoneyError as exc:
        flash({"text": f"金额无效 (invalid amount): {exc.message}", "detail": None}, "error")
        return _done(out_trade_no)
    except ConflictError as exc:
        if exc.code is None:  # raised by this shop: its message is already a sentence
            flash({"text": exc.message, "detail": None}, "error")
        else:
            _refused(exc)
    except PayLaterError as exc:
        _refused(exc)
    if row["checkout_id"]:
        refresh_order(row)
    return _done(out_trade_no)


def _refused(exc: PayLaterError) -> None:
    zh, en = refusal(exc.code)
    detail = f"code {exc.code or '-'}; request {exc.request_id or '-'}; {exc.message}"
    flash({"text": f"{zh} {en}", "detail": detail}, "error")


@bp.get("/deliveries")
@require_admin
def deliveries() -> str:
    """The issuer's delivery log next to what this shop actually processed.

    A notification the issuer marks delivered but the shop never recorded (or one stuck in
    retries) is exactly what an operator wants to see before customers call.
    """
    url = current_app.config.get("ISSUER_ADMIN_URL")
    entries: list[dict[str, Any]] = []
    error = None
    if not url:
        error = "未配置 ISSUER_ADMIN_URL (ISSUER_ADMIN_URL is not configured)"
    else:
        token = current_app.config.get("ISSUER_ADMIN_TOKEN")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            answer = requests.get(
                str(url), params={"format": "json"}, headers=headers, timeout=(3.05, 10)
            )
            answer.raise_for_status()
            data = answer.json().get("data", [])
            entries = [e for e in data if isinstance(e, dict)]
        except (requests.RequestException, ValueError, AttributeError) as exc:
            error = f"无法读取分付投递记录 (could not read the issuer's log): {type(exc).__name__}"
    processed = store.processed_event_ids(
        get_engine(current_app), [str(e.get("id")) for e in entries]
    )
    return render_template(
        "admin/deliveries.html",
        entries=entries,
        processed=processed,
        error=error,
    )


@bp.post("/reconcile")
@require_admin
def reconcile_now() -> Response:
    report = reconcile(current_app._get_current_object())  # type: ignore[attr-defined]
    flash(
        f"已核对 {report.checked} 笔待支付订单 checked {report.checked} pending: "
        f"{len(report.updated)} updated, {len(report.failed)} failed",
        "success" if not report.failed else "error",
    )
    return redirect(url_for("admin.orders"), 303)
