"""client.notifications.parse: verify, decrypt and type the issuer's notifications."""

from __future__ import annotations

import pytest
import responses

from paylater_sdk import Money
from paylater_sdk.client import Checkout, CheckoutState, EventType, PayLaterClient, Refund
from paylater_sdk.errors import (
    DecryptionError,
    InvalidRequestError,
    InvalidSignatureError,
    ReplayError,
    SignatureError,
)
from paylater_sdk.signing import ResponseSigner, generate_private_key, seal_notification, serial_for
from tests._support.client_fakes import (
    API_KEY,
    FakeIssuer,
    certificates_body,
    checkout_json,
    issuer_key,
    make_client,
    order_json,
    refund_json,
)


def _authorized_event(fake_issuer: FakeIssuer, **event: object) -> tuple[dict[str, str], bytes]:
    resource = checkout_json(state="AUTHORIZED", order=order_json())
    payload = {
        "event_type": "CHECKOUT.AUTHORIZED",
        "original_type": "checkout",
        "summary": "authorized",
        "resource": resource,
        **event,
    }
    return seal_notification(payload, API_KEY, fake_issuer.signer)


def test_parse_a_checkout_event(client: PayLaterClient, fake_issuer: FakeIssuer) -> None:
    headers, body = _authorized_event(fake_issuer, id="evt_42")

    event = client.notifications.parse(headers, body)

    assert event.id == "evt_42"
    assert event.event_type is EventType.CHECKOUT_AUTHORIZED
    assert event.summary == "authorized"
    assert event.create_time.tzinfo is not None
    assert isinstance(event.resource, Checkout)
    assert event.checkout is not None
    assert event.checkout.state is CheckoutState.AUTHORIZED
    assert event.checkout.order is not None
    assert event.checkout.order.id == "ord_1"


def test_parse_a_refund_event_with_framework_lowercased_headers(
    client: PayLaterClient, fake_issuer: FakeIssuer
) -> None:
    headers, body = seal_notification(
        {"event_type": "REFUND.SUCCEEDED", "original_type": "refund", "resource": refund_json()},
        API_KEY,
        fake_issuer.signer,
    )
    lowered = {k.lower(): v for k, v in headers.items()}

    event = client.notifications.parse(lowered, body)

    assert isinstance(event.resource, Refund)
    assert event.resource.amount == Money("30.00", "CNY")
    assert event.event_type is EventType.REFUND_SUCCEEDED


def test_a_redelivery_keeps_the_id_and_passes_replay_protection(
    client: PayLaterClient, fake_issuer: FakeIssuer
) -> None:
    first = client.notifications.parse(*_authorized_event(fake_issuer, id="evt_7"))
    again = client.notifications.parse(*_authorized_event(fake_issuer, id="evt_7"))
    assert first.id == again.id == "evt_7"


def test_a_replayed_delivery_is_refused(client: PayLaterClient, fake_issuer: FakeIssuer) -> None:
    headers, body = _authorized_event(fake_issuer)
    client.notifications.parse(headers, body)
    with pytest.raises(ReplayError):
        client.notifications.parse(headers, body)


def test_a_tampered_body_is_refused(client: PayLaterClient, fake_issuer: FakeIssuer) -> None:
    headers, body = _authorized_event(fake_issuer)
    with pytest.raises(InvalidSignatureError):
        client.notifications.parse(headers, body.replace(b"authorized", b"Authorized"))


def test_a_notification_for_another_api_key_does_not_decrypt(
    client: PayLaterClient, fake_issuer: FakeIssuer
) -> None:
    payload = {"event_type": "CHECKOUT.CLOSED", "original_type": "checkout"}
    headers, body = seal_notification(
        {**payload, "resource": checkout_json(state="CLOSED")}, b"k" * 32, fake_issuer.signer
    )
    with pytest.raises(DecryptionError):
        client.notifications.parse(headers, body)


def test_unsigned_notification_is_refused(client: PayLaterClient, fake_issuer: FakeIssuer) -> None:
    _, body = _authorized_event(fake_issuer)
    with pytest.raises(SignatureError):
        client.notifications.parse({"Content-Type": "application/json"}, body)


def test_body_must_be_raw_bytes(client: PayLaterClient, fake_issuer: FakeIssuer) -> None:
    headers, body = _authorized_event(fake_issuer)
    assert client.notifications.parse(headers, body.decode()).id.startswith("evt_")
    with pytest.raises(InvalidRequestError, match="raw request bytes"):
        client.notifications.parse(headers, {"id": "evt_1"})  # type: ignore[arg-type]


def test_notification_signed_by_a_rotated_key_refreshes_keys(
    sleeps: list, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    new = generate_private_key("ed25519")
    certs = [(200, certificates_body(issuer_key())), (200, certificates_body(issuer_key(), new))]
    fake_issuer.route(mock, "GET", "/v1/certificates", certs)
    client = make_client(sleeps, issuer_keys=None)
    assert len(client.issuer_keys) == 1

    rotated = ResponseSigner(new, serial_for(new))
    headers, body = seal_notification(
        {"event_type": "ORDER.VOIDED", "original_type": "checkout", "resource": checkout_json()},
        API_KEY,
        rotated,
    )
    event = client.notifications.parse(headers, body)

    assert event.event_type is EventType.ORDER_VOIDED
    assert len(client.issuer_keys) == 2
