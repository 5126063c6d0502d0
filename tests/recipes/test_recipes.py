"""The webhook recipes of docs/webhooks.md, each run against the mock issuer: a notification
is delivered, verified and applied once (duplicates and retries included), a forged or
replayed one is refused, and a failure in the shop's handler is retried by the issuer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paylater_sdk import Money
from paylater_sdk.client import PayLaterClient
from paylater_sdk.testing import MockIssuer

from .shop_db import ShopDB

NOTIFY_URL = "https://shop.example/paylater/notify"
Post = Callable[[dict[str, str], bytes], int]


@pytest.fixture
def issuer() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:
        yield issuer


@pytest.fixture
def db(tmp_path: Path) -> ShopDB:
    return ShopDB(str(tmp_path / "shop.db"))


def _run_scenario(
    issuer: MockIssuer, app: Any, db: ShopDB, post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    client: PayLaterClient = issuer.client()
    issuer.notify_app = app
    buyer = issuer.create_buyer(limit="5000.00")
    checkout = client.checkouts.create(
        out_trade_no="A1001",
        amount=Money("1200.00", "CNY"),
        description="Tea set",
        notify_url=NOTIFY_URL,
        return_url="https://shop.example/return",
    )

    # 1. delivered twice with the same id (a duplicate): both acknowledged, applied once
    issuer.inject_fault("duplicate_notification")
    issuer.authorize(checkout.id, buyer, "fenfu-6")
    delivered = issuer.deliver_pending()
    assert [d.status for d in delivered] == [204, 204]
    event_id = delivered[0].event.id  # type: ignore[union-attr]
    assert delivered[1].event.id == event_id  # type: ignore[union-attr]
    assert db.processed() == [(event_id, "CHECKOUT.AUTHORIZED")]
    assert db.order("A1001") == ("AUTHORIZED", 1)

    # 2. forged, altered or replayed: refused with 400, nothing applied
    headers, body = delivered[0].headers, delivered[0].body
    assert post(headers, body.replace(b'"id":"evt_', b'"id":"evt_x')) == 400
    assert post({"Content-Type": "application/json"}, body) == 400
    assert post(headers, body) == 400  # the same signed delivery again: a replay
    assert db.processed() == [(event_id, "CHECKOUT.AUTHORIZED")]

    # 3. the shop's handler fails: the test sees the error, the issuer retries, applied once
    original = ShopDB.apply
    failures = ["database is locked"]

    def flaky(self: ShopDB, event: Any) -> bool:
        if failures:
            raise RuntimeError(failures.pop())
        return original(self, event)

    monkeypatch.setattr(ShopDB, "apply", flaky)
    order = checkout.id and client.checkouts.get(checkout.id).order
    assert order is not None
    client.orders.capture(order.id)
    with pytest.raises(RuntimeError, match="database is locked"):
        issuer.deliver_pending()
    assert db.order("A1001") == ("AUTHORIZED", 1)
    issuer.advance_clock(seconds=15)  # the first step of the issuer's retry schedule
    assert [d.status for d in issuer.deliver_pending()] == [204]
    assert db.order("A1001") == ("CAPTURED", 2)
    assert [t for _, t in db.processed()].count("ORDER.CAPTURED") == 1


def test_flask_recipe(issuer: MockIssuer, db: ShopDB, monkeypatch: pytest.MonkeyPatch) -> None:
    from .flask_recipe import create_app

    app = create_app(issuer.client(), db)  # not in testing mode: errors become 500s

    def post(headers: dict[str, str], body: bytes) -> int:
        return app.test_client().post("/paylater/notify", data=body, headers=headers).status_code

    _run_scenario(issuer, app, db, post, monkeypatch)


def test_fastapi_recipe(issuer: MockIssuer, db: ShopDB, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import httpx

    from .fastapi_recipe import create_app

    app = create_app(issuer.async_client(), db)

    async def apost(headers: dict[str, str], body: bytes) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://shop.example") as h:
            return (await h.post("/paylater/notify", content=body, headers=headers)).status_code

    def post(headers: dict[str, str], body: bytes) -> int:
        return asyncio.run(apost(headers, body))

    _run_scenario(issuer, app, db, post, monkeypatch)


def _django(issuer: MockIssuer, db: ShopDB) -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="recipe-tests-only",
            ALLOWED_HOSTS=["shop.example", "testserver"],
            ROOT_URLCONF="tests.recipes.django_recipe",
            MIDDLEWARE=[
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
            ],
            INSTALLED_APPS=[],
            LOGGING_CONFIG=None,
        )
        django.setup()
    from django.test import override_settings

    return override_settings(
        PAYLATER_BASE_URL=issuer.base_url, PAYLATER=issuer.client_config(), SHOP_DB=db.path
    )


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_django_recipe(
    issuer: MockIssuer, db: ShopDB, monkeypatch: pytest.MonkeyPatch, interface: str
) -> None:
    with _django(issuer, db):
        from django.core.handlers.asgi import ASGIHandler
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import Client

        from .django_recipe import paylater

        paylater.cache_clear()  # this test's mock issuer
        app = WSGIHandler() if interface == "wsgi" else ASGIHandler()

        def post(headers: dict[str, str], body: bytes) -> int:
            extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            answer = Client().post(
                "/paylater/notify", data=body, content_type="application/json", headers=extra
            )
            return answer.status_code

        _run_scenario(issuer, app, db, post, monkeypatch)
        paylater.cache_clear()
