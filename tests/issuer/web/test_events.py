"""/v1/events: every notification sent, kept 30 days; get, resend (idempotent, through the
outbox, even while an attempt is in flight), and the freshly sealed notification."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.delivery.sender import deliver_due
from paylater_sdk.issuer.delivery.store import notification_attempts, notifications
from paylater_sdk.issuer.domain import events
from paylater_sdk.signing import InMemoryNonceStore, open_notification
from tests._support.issuer import API_KEY, SignedClient, authorized, new_checkout


def _event(api: SignedClient, issuer: Issuer, buyer: TestBuyer) -> dict[str, Any]:
    checkout = authorized(api, issuer, buyer, "EV1")
    listed = api.get("/v1/events").get_json()
    assert listed["has_more"] is False
    [event] = listed["data"]
    assert event["type"] == "CHECKOUT.AUTHORIZED"
    assert event["resource"]["id"] == checkout["id"]
    assert event["id"].startswith("evt_")
    return dict(event)


def _attempts(issuer: Issuer, event_id: str) -> list[int]:
    with issuer.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(notification_attempts.c.number)
                .where(notification_attempts.c.notification_id == event_id)
                .order_by(notification_attempts.c.number)
            ).scalars()
        )


def _state(issuer: Issuer, event_id: str) -> Any:
    with issuer.engine.connect() as conn:
        return conn.execute(sa.select(notifications).where(notifications.c.id == event_id)).one()


def test_an_event_is_its_envelope_id_type_time_and_decrypted_resource(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    event = _event(api, issuer, buyer)
    got = api.get(f"/v1/events/{event['id']}")
    assert got.status_code == 200
    assert got.get_json() == event
    assert set(event) == {"id", "type", "created_at", "resource"}
    issuer.deliver_pending()
    delivered = api.get("/v1/events?state=DELIVERED").get_json()["data"]
    assert [e["id"] for e in delivered] == [event["id"]]
    assert api.get("/v1/events?state=PENDING").get_json()["data"] == []


def test_another_merchants_event_is_not_found(
    api: SignedClient, other_api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    event = _event(api, issuer, buyer)
    for path in ("", "/notification"):
        response = other_api.get(f"/v1/events/{event['id']}{path}")
        assert response.status_code == 404
        assert response.get_json()["code"] == "NOT_FOUND"
    assert other_api.post(f"/v1/events/{event['id']}/resend", {}).status_code == 404
    assert other_api.get("/v1/events").get_json()["data"] == []


def test_resend_delivers_again_once_per_idempotency_key(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    event = _event(api, issuer, buyer)
    assert issuer.deliver_pending() == 1
    assert _state(issuer, event["id"]).state == "DELIVERED"
    key = {"Idempotency-Key": "resend-1"}
    first = api.post(f"/v1/events/{event['id']}/resend", {}, headers=key)
    assert first.status_code == 200
    assert first.get_json() == event
    again = api.post(f"/v1/events/{event['id']}/resend", {}, headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert issuer.deliver_pending() == 1  # one redelivery, not two
    assert issuer.deliver_pending() == 0
    assert _attempts(issuer, event["id"]) == [1, 2]
    assert _state(issuer, event["id"]).state == "DELIVERED"


def test_concurrent_resends_with_one_key_make_one_redelivery(
    app: Any, issuer: Issuer, buyer: TestBuyer, merchant_key: Any
) -> None:
    api = SignedClient(app.test_client(), issuer, "m_shop", merchant_key)
    event = _event(api, issuer, buyer)
    issuer.deliver_pending()
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def resend() -> None:
        client = SignedClient(app.test_client(), issuer, "m_shop", merchant_key)
        barrier.wait()
        response = client.post(
            f"/v1/events/{event['id']}/resend", {}, headers={"Idempotency-Key": "same"}
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=resend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 409}  # 409: IDEMPOTENCY_IN_PROGRESS, retried by clients
    assert 200 in statuses
    assert issuer.deliver_pending() == 1
    assert _attempts(issuer, event["id"]) == [1, 2]


def test_a_resend_during_an_attempt_in_flight_is_not_swallowed(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    event = _event(api, issuer, buyer)
    resent = threading.Event()

    def send(url: str, headers: Any, body: bytes, timeout: float) -> int:
        if not resent.is_set():
            resent.set()  # the merchant asks for a resend while this attempt is in flight
            events.resend(issuer.engine, "m_shop", event["id"], issuer.now())
        return 200

    deliver_due(issuer, transport=send)
    row = _state(issuer, event["id"])
    assert row.state == "PENDING"  # the in-flight success did not end the resend
    deliver_due(issuer, transport=send)
    assert _state(issuer, event["id"]).state == "DELIVERED"
    assert len(_attempts(issuer, event["id"])) == 2


def test_the_notification_is_sealed_fresh_each_time(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    event = _event(api, issuer, buyer)
    sealed = [api.get(f"/v1/events/{event['id']}/notification").get_json() for _ in range(2)]
    nonces = InMemoryNonceStore()
    opened = [
        open_notification(
            s["headers"], s["body"].encode(), api_key=API_KEY, keyring=issuer.signing_keyring(),
            nonce_store=nonces,
        )
        for s in sealed
    ]  # fmt: skip
    assert [o.id for o in opened] == [event["id"]] * 2  # two nonces: both open
    assert opened[0].resource == event["resource"]
    assert sealed[0]["headers"] != sealed[1]["headers"]


def test_events_are_kept_30_days_then_purged(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    event = _event(api, issuer, buyer)
    issuer.deliver_pending()
    issuer.advance_clock(events.RETENTION_SECONDS - 60)
    assert api.get(f"/v1/events/{event['id']}").status_code == 200
    issuer.advance_clock(120)
    assert api.get(f"/v1/events/{event['id']}").status_code == 404
    listed = [e["id"] for e in api.get("/v1/events?limit=100").get_json()["data"]]
    assert event["id"] not in listed
    issuer.deliver_pending()  # the ORDER.EXPIRED the clock move caused
    issuer.housekeeping()
    with issuer.engine.connect() as conn:
        kept = set(conn.execute(sa.select(notifications.c.id)).scalars())
    assert event["id"] not in kept
    assert set(listed) <= kept  # what is still listed is not purged
    assert _attempts(issuer, event["id"]) == []
    new_checkout(api, "AFTER")  # the issuer carries on
