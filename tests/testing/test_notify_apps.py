"""MockIssuer(notify_app=...): WSGI, ASGI or a plain callable; handler errors fail the test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from paylater_sdk import Money
from paylater_sdk.client import AsyncPayLaterClient, EventType, PayLaterClient
from paylater_sdk.errors import ConfigurationError, SignatureError
from paylater_sdk.testing import MockIssuer


@pytest.fixture
def issuer() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:
        yield issuer


def _authorize(issuer: MockIssuer, notify_url: str = "https://shop.example/paylater/notify") -> str:
    client = issuer.client()
    buyer = issuer.create_buyer(limit="5000.00")
    checkout = client.checkouts.create(
        out_trade_no="A1",
        amount=Money("120.00", "CNY"),
        description="Tea",
        notify_url=notify_url,
        return_url="https://shop.example/return",
    )
    issuer.authorize(checkout.id, buyer, "fenfu-6")
    return checkout.id


def test_a_plain_callable_gets_headers_and_raw_bytes(issuer: MockIssuer) -> None:
    client = issuer.client()
    got: list[tuple[dict[str, str], bytes]] = []

    def handler(headers: dict[str, str], body: bytes) -> int:
        got.append((headers, body))
        client.notifications.parse(headers, body)
        return 204

    issuer.notify_app = handler
    _authorize(issuer)
    delivered = issuer.deliver_pending()
    assert [d.status for d in delivered] == [204]
    headers, body = got[0]
    assert isinstance(body, bytes)
    assert json.loads(body)["event_type"] == "CHECKOUT.AUTHORIZED"
    assert "Paylater-Signature" in headers


def test_a_raw_wsgi_app_gets_the_path_and_body(issuer: MockIssuer) -> None:
    client = issuer.client()
    seen: list[tuple[str, str]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        event = client.notifications.parse(environ, body)  # the environ itself works too
        seen.append((environ["PATH_INFO"], event.event_type.value))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    issuer.notify_app = app
    _authorize(issuer, "https://shop.example/hooks/paylater?shop=1")
    assert [d.status for d in issuer.deliver_pending()] == [200]
    assert seen == [("/hooks/paylater", "CHECKOUT.AUTHORIZED")]


def _asgi_app(client: PayLaterClient | AsyncPayLaterClient, seen: list[str]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if isinstance(client, AsyncPayLaterClient):
            event = await client.notifications.parse(scope["headers"], body)
        else:
            event = client.notifications.parse(scope["headers"], body)
        seen.append(event.id)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_a_raw_asgi_app_with_asgi_header_pairs(issuer: MockIssuer) -> None:
    seen: list[str] = []
    issuer.notify_app = _asgi_app(issuer.client(), seen)
    _authorize(issuer)
    delivered = issuer.deliver_pending()
    assert [d.status for d in delivered] == [204]
    assert seen == [delivered[0].event.id]  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_an_asgi_app_runs_on_the_tests_event_loop(issuer: MockIssuer) -> None:
    seen: list[str] = []
    async with issuer.async_client() as client:
        issuer.notify_app = _asgi_app(client, seen)
        _authorize(issuer)
        delivered = await issuer.adeliver_pending()
    assert [d.status for d in delivered] == [204]
    assert seen == [delivered[0].event.id]  # type: ignore[union-attr]


def test_an_exception_in_a_flask_view_is_raised_into_the_test(issuer: MockIssuer) -> None:
    from flask import Flask

    shop = Flask("shop")  # not in testing mode: Flask would answer 500 and log

    @shop.post("/paylater/notify")
    def notify() -> str:
        raise KeyError("order A1 not found in the shop")

    issuer.notify_app = shop
    _authorize(issuer)
    with pytest.raises(KeyError, match="order A1"):
        issuer.deliver_pending()
    assert [n.status for n in issuer.notifications] == [500]  # the issuer will retry
    issuer.notify_app = lambda headers, body: 204
    issuer.advance_clock(seconds=15)
    assert [d.status for d in issuer.deliver_pending()] == [204]


def test_an_exception_in_a_callable_or_wsgi_or_asgi_app_is_raised(issuer: MockIssuer) -> None:
    def handler(headers: dict[str, str], body: bytes) -> int:
        raise RuntimeError("handler bug")

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("wsgi bug")

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("asgi bug")

    _authorize(issuer)
    for app, message in ((handler, "handler bug"), (wsgi, "wsgi bug"), (asgi, "asgi bug")):
        issuer.notify_app = app
        with pytest.raises(RuntimeError, match=message):
            issuer.deliver_pending()
        issuer.advance_clock(seconds=60)  # the next retry becomes due


def test_a_rejecting_handler_is_retried_not_raised(issuer: MockIssuer) -> None:
    client = issuer.client()
    answers = iter([400, 204])

    def handler(headers: dict[str, str], body: bytes) -> int:
        try:
            client.notifications.parse(headers, body + b" ")  # as if the body were altered
        except SignatureError:
            return next(answers)
        return 500  # pragma: no cover

    issuer.notify_app = handler
    _authorize(issuer)
    assert [d.status for d in issuer.deliver_pending()] == [400]
    issuer.advance_clock(seconds=15)
    assert [d.status for d in issuer.deliver_pending()] == [204]
    assert issuer.events()
    assert issuer.events()[0].event_type is EventType.CHECKOUT_AUTHORIZED


def test_bad_notify_apps_are_refused(issuer: MockIssuer) -> None:
    with pytest.raises(ConfigurationError, match="notify_app"):
        issuer.notify_app = "https://shop.example/notify"
    issuer.notify_app = lambda headers, body: "OK"
    _authorize(issuer)
    with pytest.raises(ConfigurationError, match="HTTP status"):
        issuer.deliver_pending()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
