"""``paylater trigger EVENT``: make a test-mode issuer send one event of a type, for real.

It creates what the event needs, as a merchant and a buyer would: a test buyer
(``POST /_test/buyers``), a checkout (signed, with your credentials), the buyer's consent
on the issuer's own consent page (the HTML form of docs/api.md), then the capture, void,
close or refund (``ORDER.RELEASED``: a capture with ``final=False``, then the void);
``CHECKOUT.EXPIRED`` and ``ORDER.EXPIRED`` move the issuer's test clock past the deadline
(for everyone using that issuer). The event is then in the outbox: the
issuer delivers it to ``--notify-url`` and ``paylater listen`` forwards it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..lifecycle import EventType
from ._common import FAILED, fail
from ._merchant import build_client, merchant_options

__all__ = ["trigger"]

_TYPES = [t.value for t in EventType if t is not EventType.UNKNOWN]
_AMOUNT = "100.00"


class _Browser:
    """A buyer's browser on the issuer (the interface the consent driver uses)."""

    def __init__(self, base_url: str) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def get(self, path: str) -> _Page:
        return _Page(self.session.get(self.base_url + path, allow_redirects=False, timeout=10))

    def post(self, path: str, data: dict[str, str]) -> _Page:
        url = self.base_url + path
        return _Page(self.session.post(url, data=data, allow_redirects=False, timeout=10))

    def test_control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(self.base_url + path, json=body, timeout=10)
        if response.status_code == 404:
            fail("trigger needs an issuer in test mode (its /_test controls answered 404)")
        if response.status_code >= 300:
            fail(f"{path} answered HTTP {response.status_code}: {response.text[:200]}", FAILED)
        result: dict[str, Any] = response.json()
        return result


class _Page:
    def __init__(self, response: Any) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self._text = response.text

    def get_data(self, as_text: bool = False) -> str:
        return str(self._text)


def _advance_past(browser: _Browser, deadline: datetime | None) -> None:
    now = datetime.fromisoformat(
        browser.test_control("/_test/clock/advance", {"seconds": 0})["now"]
    )
    seconds = 61 if deadline is None else max(1, int((deadline - now).total_seconds()) + 1)
    browser.test_control("/_test/clock/advance", {"seconds": seconds})


def _fire(client: Any, browser: _Browser, kind: EventType, notify_url: str, return_url: str) -> Any:
    """Do what makes the issuer emit ``kind``; the checkout it is about."""
    from ..money import Money
    from ..testing._consent import consent_flow  # the same driver as the testing kit's

    trade_no = f"trigger-{secrets.token_hex(6)}"
    checkout = client.checkouts.create(
        out_trade_no=trade_no,
        amount=Money(_AMOUNT, "CNY"),
        description=f"paylater trigger {kind.value}",
        notify_url=notify_url,
        return_url=return_url,
        expires_in=60 if kind is EventType.CHECKOUT_EXPIRED else None,
        metadata={"paylater_trigger": kind.value},
    )
    if kind is EventType.CHECKOUT_CLOSED:
        return client.checkouts.close(checkout.id)
    if kind is EventType.CHECKOUT_EXPIRED:
        _advance_past(browser, checkout.expires_at)
        return client.checkouts.get(checkout.id)
    limit = {"value": 1_000_000, "currency": "CNY"}
    buyer = browser.test_control("/_test/buyers", {"limit": limit})
    consent_flow(
        browser,
        checkout.id,
        phone=buyer["phone"],
        code=buyer["test_code"],
        plan_id=checkout.plans[0].plan_id,
    )
    paid = client.checkouts.get(checkout.id)
    order = paid.order
    if kind is EventType.ORDER_CAPTURED or kind is EventType.REFUND_SUCCEEDED:
        client.orders.capture(order.id)
    if kind is EventType.REFUND_SUCCEEDED:
        client.refunds.create(order.id, Money("10.00", "CNY"), f"{trade_no}-r")
    if kind is EventType.ORDER_RELEASED:  # a first shipment, then the rest voided
        client.orders.capture(order.id, Money("10.00", "CNY"), final=False)
    if kind is EventType.ORDER_VOIDED or kind is EventType.ORDER_RELEASED:
        client.orders.void(order.id)
    if kind is EventType.ORDER_EXPIRED:
        _advance_past(browser, order.authorization_expires_at)
    return client.checkouts.get(checkout.id)


@click.command("trigger")
@click.argument("event_type", metavar="EVENT", type=click.Choice(_TYPES, case_sensitive=False))
@merchant_options
@click.option(
    "--notify-url",
    envvar="PAYLATER_NOTIFY_URL",
    metavar="URL",
    help="The checkout's notify_url, under your registered prefixes (required).  "
    "[env: PAYLATER_NOTIFY_URL]",
)
@click.option(
    "--return-url",
    envvar="PAYLATER_RETURN_URL",
    metavar="URL",
    help="The checkout's return_url (default: the notify URL).  [env: PAYLATER_RETURN_URL]",
)
def trigger(
    event_type: str,
    base_url: str | None,
    merchant_id: str | None,
    private_key_path: Path | None,
    api_key: str | None,
    key_serial: str | None,
    notify_url: str | None,
    return_url: str | None,
) -> None:
    """Make a test-mode issuer send an event (e.g. CHECKOUT.AUTHORIZED).

    Creates a test buyer and a checkout, and takes it as far as the event needs.
    """
    from ..errors import PayLaterError

    if not notify_url:
        fail("give --notify-url (or PAYLATER_NOTIFY_URL): a URL under your notify prefixes")
    kind = EventType(event_type.upper())
    client = build_client(
        base_url=base_url,
        merchant_id=merchant_id,
        private_key_path=private_key_path,
        api_key=api_key,
        key_serial=key_serial,
    )
    try:
        browser = _Browser(client.base_url)
        checkout = _fire(client, browser, kind, notify_url, return_url or notify_url)
        fired = [
            e for e in client.events.list(out_trade_no=checkout.out_trade_no, limit=100)
            if e.event_type is kind
        ]  # fmt: skip
    except PayLaterError as exc:
        fail(f"{kind.value}: {exc.message}", FAILED)
    finally:
        client.close()
    if not fired:
        fail(f"{kind.value} was not sent for checkout {checkout.id}", FAILED)
    click.echo(f"{kind.value} fired: event {fired[0].id} for checkout {checkout.id}")
