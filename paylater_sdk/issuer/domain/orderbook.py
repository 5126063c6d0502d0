"""The order book: checkouts, orders and refunds, as the merchant and the buyer see them.

A component of the :class:`~paylater_sdk.issuer.domain.issuer.Issuer` (``issuer.orders``),
kept apart so that each module stays about one thing: this one is the lifecycle's entry
points (validation of the business rules, then one transaction through :mod:`.lifecycle`
and :mod:`.ledger`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ...errors import ConflictError, CreditDeclinedError, InvalidRequestError, NotFoundError
from ...installments import PlanOffer, PlanQuote, quote_plans
from ...lifecycle import CheckoutState, EventType
from ...money import Money
from ..config import IssuerConfig
from ..storage import idempotency
from ..storage.positions import next_position
from ..storage.prepared import by_id
from ..storage.quickread import QuickRead
from ..storage.schema import buyers, checkouts, merchants, orders, reading, to_epoch
from . import credit, ledger, lifecycle, repayments, risk
from .order_actions import OrderActions, OrderHost, offer_for, owned_row
from .urls import url_allowed
from .views import checkout_json, checkout_json_by_id, checkout_view, read_checkout_json

__all__ = ["OrderBook"]

_QUOTE_CACHE = 512  # (amount, offers, day) entries of about 12 KiB each: ~6 MB at most

# Built once (see :mod:`..storage.prepared`): every purchase runs each of these.
_TRADE_NO_TAKEN = sa.select(checkouts.c.id).where(
    checkouts.c.merchant_id == sa.bindparam("owner"),
    checkouts.c.out_trade_no == sa.bindparam("trade_no"),
)
_INSERT_CHECKOUT = checkouts.insert()
_INSERT_ORDER = orders.insert()
#: The consent page's one read (each of its three requests runs it): a quick read, one
#: statement with no transaction (see :mod:`..storage.quickread`).
_CONSENT = QuickRead(
    sa.select(checkouts, merchants.c.name.label("merchant_name"))
    .join(merchants, merchants.c.id == checkouts.c.merchant_id)
    .where(checkouts.c.id == sa.bindparam("obj_id"))
)
_CLAIM = (
    checkouts.update()
    .where(
        checkouts.c.id == sa.bindparam("obj_id"),
        checkouts.c.state == CheckoutState.CREATED,
    )
    .values(state=CheckoutState.AUTHORIZED)
)


def _lending_in(amount: Money, offers: Sequence[PlanOffer]) -> tuple[PlanOffer, ...]:
    """The offers in ``amount``'s currency: the key both quote caches are asked with."""
    return tuple(o for o in offers if o.min_amount.currency == amount.currency)


class OrderBook:
    """Checkout, order and refund operations (``issuer.orders``); each public method is
    one transaction. Captures, voids, extensions and refunds are an
    :class:`~.order_actions.OrderActions` component that the book delegates to."""

    def __init__(self, host: OrderHost) -> None:
        self._host = host
        self._actions = OrderActions(host)
        self.capture = self._actions.capture
        self.extend = self._actions.extend
        self.void = self._actions.void
        self.create_refund = self._actions.create_refund
        self.get_refund = self._actions.get_refund
        # Quotes are a pure function of (amount, offers, purchase day): a purchase prices
        # the same plans four or five times (create, each consent page, authorize), so
        # they are priced once. PlanQuote and its Schedule are frozen, so sharing is safe.
        self._priced = functools.lru_cache(maxsize=_QUOTE_CACHE)(self._price)
        # And their JSON, which every new checkout stores: serialising four schedules was a
        # sixth of the create's own work. A string, so no caller can change a later answer.
        self._priced_json = functools.lru_cache(maxsize=_QUOTE_CACHE)(self._price_json)

    @property
    def engine(self) -> Engine:
        return self._host.engine

    @property
    def config(self) -> IssuerConfig:
        return self._host.config

    @property
    def offers(self) -> tuple[PlanOffer, ...]:
        return self._host.offers

    def now(self) -> datetime:
        return self._host.now()

    def quotes(self, amount: Money, offers: Sequence[PlanOffer], on: datetime) -> list[PlanQuote]:
        """The offers (in the amount's currency) priced for ``amount`` from ``on``."""
        return list(self._priced(amount, _lending_in(amount, offers), on.date()))

    def quotes_json(self, amount: Money, offers: Sequence[PlanOffer], on: datetime) -> str:
        """:meth:`quotes` as the JSON array a checkout stores (``plans_json``)."""
        return self._priced_json(amount, _lending_in(amount, offers), on.date())

    def _price(
        self, amount: Money, offers: tuple[PlanOffer, ...], day: date
    ) -> tuple[PlanQuote, ...]:
        return tuple(quote_plans(amount, offers, start=day, apr_cap=self.config.apr_cap))

    def _price_json(self, amount: Money, offers: tuple[PlanOffer, ...], day: date) -> str:
        return json.dumps([q.to_json() for q in self._priced(amount, offers, day)])

    # --- checkouts (the merchant's side) ----------------------------------------------------

    def create_checkout(
        self,
        merchant_id: str,
        *,
        out_trade_no: str,
        amount: Money,
        description: str,
        notify_url: str,
        return_url: str,
        plan_ids: Sequence[str] | None,
        expires_in: int | None,
        base_url: str,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        self._check_urls(merchant_id, notify_url=notify_url, return_url=return_url)
        offers = self._requested_offers(amount, plan_ids)
        now = self.now()
        quotes = self.quotes(amount, offers, now)
        if not quotes:
            raise InvalidRequestError(
                f"no plan is offered for {amount}: check the plans' amount ranges",
                code="PLAN_NOT_AVAILABLE",
            )
        ttl = expires_in if expires_in is not None else self.config.checkout_ttl
        checkout_id = lifecycle.new_id("co")
        base = (self.config.public_url or base_url).rstrip("/")
        try:
            with idempotency.transaction(self.engine) as tx:
                conn = tx.conn
                duplicate = conn.execute(
                    _TRADE_NO_TAKEN, {"owner": merchant_id, "trade_no": out_trade_no}
                ).first()
                if duplicate is not None:
                    raise _duplicate_trade_no(out_trade_no)
                values = {
                    "id": checkout_id,
                    "merchant_id": merchant_id,
                    "out_trade_no": out_trade_no,
                    "state": CheckoutState.CREATED.value,
                    "amount": amount.minor,
                    "currency": amount.currency,
                    "description": description,
                    "notify_url": notify_url,
                    "return_url": return_url,
                    "plans_json": self.quotes_json(amount, offers, now),
                    "authorize_url": f"{base}/authorize/{checkout_id}",
                    "created_at": to_epoch(now),
                    "expires_at": to_epoch(now + timedelta(seconds=ttl)),
                    "metadata_json": json.dumps(dict(metadata or {}), ensure_ascii=False),
                    "list_seq": next_position(conn, merchant_id),  # last: commit order
                }
                conn.execute(_INSERT_CHECKOUT, values)
                # Answered from the values written: no re-read, and no order to look up yet.
                return tx.done(checkout_view(SimpleNamespace(**values), None))
        except IntegrityError:
            raise _duplicate_trade_no(out_trade_no) from None

    def _check_urls(self, merchant_id: str, *, notify_url: str, return_url: str) -> None:
        """Both URLs under a prefix the merchant registered (:mod:`.urls`), or 400."""
        registered = self._host.merchant_prefixes(merchant_id)  # cached: see .merchants
        if registered is None:
            raise _not_found("merchant", merchant_id)
        for field, url, prefixes in (
            ("notify_url", notify_url, registered.notify),
            ("return_url", return_url, registered.return_to),
        ):
            if not url_allowed(url, prefixes):
                raise InvalidRequestError(
                    f"{field} is not under a URL prefix registered for merchant {merchant_id}",
                    code="URL_NOT_ALLOWED",
                    field=field,
                )

    def _requested_offers(self, amount: Money, plan_ids: Sequence[str] | None) -> list[PlanOffer]:
        """The offers a checkout may use: all, or the ones the merchant named."""
        if not any(o.min_amount.currency == amount.currency for o in self.offers):
            lends = self.offers[0].min_amount.currency if self.offers else "-"
            raise InvalidRequestError(
                f"this issuer lends in {lends}, not {amount.currency}", code="CURRENCY_MISMATCH"
            )
        if plan_ids is None:
            return list(self.offers)
        by_id = {o.plan_id: o for o in self.offers}
        unknown = [p for p in plan_ids if p not in by_id]
        if unknown:
            raise InvalidRequestError(
                f"unknown plan ids: {', '.join(p[:40] for p in unknown[:5])}",
                code="PLAN_NOT_AVAILABLE",
            )
        return [by_id[p] for p in dict.fromkeys(plan_ids)]

    def _checkout_row(
        self, conn: sa.Connection, merchant_id: str | None, checkout_id: str, *, lock: bool = False
    ) -> Any:
        return owned_row(conn, checkouts, "checkout", merchant_id, checkout_id, lock=lock)

    def get_checkout(self, merchant_id: str, checkout_id: str) -> dict[str, Any]:
        found = read_checkout_json(self.engine, merchant_id, checkout_id)
        if found is None:
            raise _not_found("checkout", checkout_id)
        return found

    def find_checkout(self, merchant_id: str, out_trade_no: str) -> dict[str, Any]:
        with reading(self.engine) as conn:
            row = conn.execute(
                sa.select(checkouts).where(
                    checkouts.c.merchant_id == merchant_id,
                    checkouts.c.out_trade_no == out_trade_no,
                )
            ).first()
            if row is None:
                raise _not_found("checkout with out_trade_no", out_trade_no)
            return checkout_json(conn, row)

    def close_checkout(self, merchant_id: str, checkout_id: str) -> dict[str, Any]:
        with idempotency.transaction(self.engine) as tx:
            row = self._checkout_row(tx.conn, merchant_id, checkout_id, lock=True)
            return tx.done(lifecycle.close_checkout(tx.conn, row, self.now()))

    # --- the buyer's side (consent page, test controls) --------------------------------------

    def consent_view(self, checkout_id: str) -> dict[str, Any]:
        self._host.sweep()
        found = _CONSENT.rows(self.engine, obj_id=checkout_id)
        if not found:
            raise _not_found("checkout", checkout_id)
        row = found[0]
        amount = Money.from_minor(row.amount, row.currency)
        plan_ids = [p["plan_id"] for p in json.loads(row.plans_json)]
        created = datetime.fromtimestamp(row.created_at, self.now().tzinfo)
        offers = [o for o in self.offers if o.plan_id in plan_ids]
        return {
            "id": row.id,
            "state": row.state,
            "merchant_name": row.merchant_name,
            "description": row.description,
            "amount": amount,
            "plans": self.quotes(amount, offers, created),
            "return_url": row.return_url,
            "out_trade_no": row.out_trade_no,
            "expired": row.state == CheckoutState.EXPIRED or row.expires_at <= to_epoch(self.now()),
        }

    def authorize(self, checkout_id: str, *, buyer_id: str, plan_id: str) -> dict[str, Any]:
        """The buyer approves: checks again, places the hold, opens the order, notifies.

        Raises :class:`CreditDeclinedError` (``reason``) on a decline and
        :class:`ConflictError` when the checkout is not awaiting authorization.
        """
        self._host.sweep()
        now = self.now()
        with self.engine.begin() as conn:
            row = self._checkout_row(conn, None, checkout_id, lock=True)
            quote = self._approve(conn, row, buyer_id, plan_id, now)
            claimed = conn.execute(_CLAIM, {"obj_id": row.id})
            if claimed.rowcount != 1:
                raise ConflictError(f"checkout {row.id} changed meanwhile", code="INVALID_STATE")
            self._open_order(conn, row, buyer_id, quote, now)
            if self.config.risk_rules:  # risk early warning, in this transaction
                risk.after_authorization(conn, dict(self.config.risk_rules), buyer_id, now)
            resource = checkout_json_by_id(conn, row.id)
            lifecycle.emit(
                conn,
                merchant_id=row.merchant_id,
                notify_url=row.notify_url,
                event_type=EventType.CHECKOUT_AUTHORIZED,
                original_type="checkout",
                resource=resource,
                summary="checkout authorized",
                now=now,
            )
            return resource

    def _approve(
        self, conn: sa.Connection, row: Any, buyer_id: str, plan_id: str, now: datetime
    ) -> PlanQuote:
        """The credit decision on a locked checkout row: the chosen plan's quote, or why not."""
        lifecycle.require_state(
            "checkout", row.id, row.state, (CheckoutState.CREATED,), "authorized"
        )
        if plan_id not in [p["plan_id"] for p in json.loads(row.plans_json)]:
            raise InvalidRequestError(
                f"plan {plan_id[:40]!r} is not offered for this checkout",
                code="PLAN_NOT_AVAILABLE",
            )
        amount = Money.from_minor(row.amount, row.currency)
        quotes = self.quotes(amount, [offer_for(self.offers, plan_id)], now)
        buyer = conn.execute(by_id(buyers), {"obj_id": buyer_id}).first()
        if buyer is None:
            raise _not_found("buyer", buyer_id)
        over = bool(quotes) and credit.over_dti(
            conn, buyer, credit.monthly_payment(quotes[0].to_json()), self.config.credit.dti_cap
        )
        reasons = credit.credit_reasons(buyer, amount, in_range=bool(quotes), over_dti=over)
        if reasons:
            raise _declined(reasons[0])
        return quotes[0]

    def _open_order(
        self, conn: sa.Connection, row: Any, buyer_id: str, quote: PlanQuote, now: datetime
    ) -> str:
        """Hold the credit (the conditional UPDATE decides) and insert the order."""
        order_id = lifecycle.new_id("ord")
        if not ledger.hold(
            conn,
            buyer_id=buyer_id,
            amount=row.amount,
            currency=row.currency,
            reference=order_id,
            now=now,
        ):
            raise _declined("INSUFFICIENT_LIMIT")
        conn.execute(
            _INSERT_ORDER,
            {
                "id": order_id,
                "checkout_id": row.id,
                "merchant_id": row.merchant_id,
                "buyer_id": buyer_id,
                "state": CheckoutState.AUTHORIZED,
                "currency": row.currency,
                "amount": row.amount,
                "held": row.amount,
                "captured_amount": 0,
                "refunded_amount": 0,
                "plan_id": quote.plan_id,
                "plan_json": json.dumps(quote.to_json()),
                "schedule_json": None,
                "metadata_json": row.metadata_json,  # the order carries the checkout's metadata
                "authorized_at": to_epoch(now),
                "authorization_expires_at": lifecycle.authorization_expiry(
                    now, self.config.authorization_ttl
                ),
            },
        )
        return order_id

    def repay(
        self,
        buyer_id: str,
        order_id: str | None = None,
        amount: Money | None = None,
        *,
        mode: str = "DUE",
        prepay_keeps: str = "PAYMENT",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """The buyer repays: the servicing rules allocate it (see :mod:`.repayments`)."""
        return repayments.repay(
            self.engine,
            buyer_id,
            now=self.now(),
            config=self.config,
            amount=amount,
            order_id=order_id,
            mode=mode,
            prepay_keeps=prepay_keeps,
            idempotency_key=idempotency_key,
        )


def _not_found(kind: str, obj_id: str) -> NotFoundError:
    return lifecycle.not_found(kind, obj_id)


def _declined(reason: str) -> CreditDeclinedError:
    return CreditDeclinedError(f"credit declined: {reason}", reason=reason, code="CREDIT_DECLINED")


def _duplicate_trade_no(out_trade_no: str) -> ConflictError:
    return ConflictError(
        f"out_trade_no {out_trade_no[:64]!r} was already used by another checkout",
        code="DUPLICATE_OUT_TRADE_NO",
    )
