"""The delivery log at /_admin/notifications: HTML, JSON, filters and access control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.delivery.outbox import enqueue

ADMIN_TOKEN = "admin-token-for-tests-0123456789"


def _make_app(tmp_path: Path, **config: Any) -> Flask:
    settings: dict[str, Any] = {"DATABASE_URL": f"sqlite:///{tmp_path / 'issuer.db'}"}
    settings.update(config)
    return create_app(settings)


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return _make_app(tmp_path, TEST_MODE=True)


def _notify(app: Flask, merchant_id: str = "m1", **overrides: Any) -> str:
    issuer = get_issuer(app)
    fields: dict[str, Any] = {
        "merchant_id": merchant_id,
        "notify_url": "https://shop.example/notify",
        "event_type": "CHECKOUT.AUTHORIZED",
        "original_type": "checkout",
        "resource": {"id": "co_secret_resource"},
        "summary": "checkout authorized",
        "now": issuer.now(),
    }
    fields.update(overrides)
    with issuer.engine.begin() as conn:
        return enqueue(conn, **fields)


def test_json_lists_notifications_with_their_attempts(app: Flask) -> None:
    first = _notify(app)
    get_issuer(app).advance_clock(1)
    second = _notify(app, "m2", event_type="ORDER.CAPTURED")
    response = app.test_client().get("/_admin/notifications?format=json")
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert [e["id"] for e in data] == [second, first]
    assert data[0]["event_type"] == "ORDER.CAPTURED"
    assert data[1]["state"] == "PENDING"
    assert data[1]["attempts"] == []
    assert "co_secret_resource" not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_accept_header_selects_json(app: Flask) -> None:
    _notify(app)
    response = app.test_client().get(
        "/_admin/notifications", headers={"Accept": "application/json"}
    )
    assert response.mimetype == "application/json"
    assert len(response.get_json()["data"]) == 1


def test_html_shows_the_log_escaped(app: Flask) -> None:
    event_id = _notify(app, summary="<b>bold</b>")
    response = app.test_client().get("/_admin/notifications")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert f'data-event-id="{event_id}"' in response.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in response.text
    assert "<b>bold</b>" not in response.text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_html_with_no_notifications(app: Flask) -> None:
    response = app.test_client().get("/_admin/notifications")
    assert response.status_code == 200
    assert "No notifications." in response.text


def test_filters(app: Flask) -> None:
    mine = _notify(app, "m1")
    _notify(app, "m2")
    client = app.test_client()
    data = client.get("/_admin/notifications?format=json&merchant_id=m1").get_json()["data"]
    assert [e["id"] for e in data] == [mine]
    data = client.get("/_admin/notifications?format=json&limit=1").get_json()["data"]
    assert len(data) == 1
    data = client.get("/_admin/notifications?format=json&state=DELIVERED").get_json()["data"]
    assert data == []
    data = client.get(f"/_admin/notifications?format=json&id={mine}").get_json()["data"]
    assert [e["id"] for e in data] == [mine]


def test_failed_attempts_appear_in_the_log(app: Flask) -> None:
    sent: list[str] = []

    def transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        sent.append(url)
        return 200

    issuer = get_issuer(app)
    from paylater_sdk.issuer.delivery.outbox import deliver_due

    event_id = _notify(app)
    assert deliver_due(issuer, transport=transport) == 1  # m1 is unknown: no prefixes
    entry = app.test_client().get("/_admin/notifications?format=json").get_json()["data"][0]
    assert entry["id"] == event_id
    assert entry["state"] == "FAILED"
    assert entry["attempts"][0]["outcome"] == "BLOCKED"
    assert "registered prefix" in entry["attempts"][0]["error"]
    assert sent == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("state=SENT", "state"),
        ("merchant_id=%3Cscript%3E", "merchant_id"),
        ("id=" + "x" * 65, "id"),
        ("format=xml", "format"),
        ("colour=red", "colour"),
    ],
)
def test_bad_query_parameters_are_400(app: Flask, query: str, field: str) -> None:
    response = app.test_client().get(f"/_admin/notifications?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "INVALID_QUERY"
    assert body["field"] == field


def test_outside_test_mode_the_page_is_hidden_without_a_token(tmp_path: Path) -> None:
    app = _make_app(tmp_path, SECRET_KEY="s" * 32)
    response = app.test_client().get("/_admin/notifications")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong-token", 401),
        (f"Basic {ADMIN_TOKEN}", 401),
        (f"Bearer {ADMIN_TOKEN}", 200),
    ],
)
def test_outside_test_mode_the_admin_token_is_required(
    tmp_path: Path, header: str | None, status: int
) -> None:
    app = _make_app(tmp_path, SECRET_KEY="s" * 32)
    app.config["ADMIN_TOKEN"] = ADMIN_TOKEN
    headers = {"Authorization": header} if header else {}
    response = app.test_client().get("/_admin/notifications?format=json", headers=headers)
    assert response.status_code == status
    assert ADMIN_TOKEN not in response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _delivered(app: Flask) -> tuple[str, list[str]]:
    """A notification for a registered merchant, delivered once; returns (id, urls sent)."""
    from paylater_sdk.issuer.delivery.outbox import deliver_due
    from paylater_sdk.signing import generate_private_key, public_key_pem

    get_issuer(app).add_merchant(
        "m1",
        name="Shop",
        public_keys=[public_key_pem(generate_private_key()).decode()],
        api_key="k" * 32,
        notify_prefixes=["https://shop.example/"],
        return_prefixes=["https://shop.example/"],
    )
    sent: list[str] = []

    def transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        sent.append(url)
        return 200

    event_id = _notify(app)
    deliver_due(get_issuer(app), transport=transport)
    assert sent == ["https://shop.example/notify"]
    app.config["TEST_TRANSPORT"] = transport
    return event_id, sent


def test_redeliver_sends_a_delivered_notification_again(app: Flask) -> None:
    from paylater_sdk.issuer.delivery.outbox import deliver_due

    event_id, sent = _delivered(app)
    client = app.test_client()
    response = client.post(
        f"/_admin/notifications/{event_id}/redeliver", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.get_json() == {"id": event_id, "state": "PENDING"}
    assert deliver_due(get_issuer(app), transport=app.config["TEST_TRANSPORT"]) == 1
    assert len(sent) == 2
    entry = client.get("/_admin/notifications?format=json").get_json()["data"][0]
    assert entry["state"] == "DELIVERED"
    assert [a["number"] for a in entry["attempts"]] == [1, 2]


def test_redeliver_from_the_html_page_redirects_back(app: Flask) -> None:
    event_id, _ = _delivered(app)
    client = app.test_client()
    page = client.get("/_admin/notifications").text
    assert f'action="/_admin/notifications/{event_id}/redeliver"' in page
    response = client.post(f"/_admin/notifications/{event_id}/redeliver")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/_admin/notifications?id={event_id}")
    entry = client.get("/_admin/notifications?format=json").get_json()["data"][0]
    assert entry["state"] == "PENDING"


def test_a_failed_notification_can_be_redelivered(app: Flask) -> None:
    from paylater_sdk.issuer.delivery.outbox import deliver_due

    event_id = _notify(app)  # m1 is not registered: the attempt is BLOCKED and gives up
    deliver_due(get_issuer(app))
    client = app.test_client()
    [entry] = client.get("/_admin/notifications?format=json").get_json()["data"]
    assert entry["state"] == "FAILED"
    client.post(f"/_admin/notifications/{event_id}/redeliver")
    [entry] = client.get("/_admin/notifications?format=json").get_json()["data"]
    assert entry["state"] == "PENDING"
    assert entry["last_error"] is None


@pytest.mark.parametrize("event_id", ["evt_unknown", "bad%20id"])
def test_redeliver_unknown_notifications_is_404(app: Flask, event_id: str) -> None:
    response = app.test_client().post(f"/_admin/notifications/{event_id}/redeliver")
    assert response.status_code == 404
    assert response.get_json()["code"] == "NOT_FOUND"


def test_redeliver_outside_test_mode_needs_the_token(tmp_path: Path) -> None:
    app = _make_app(tmp_path, SECRET_KEY="s" * 32, ADMIN_TOKEN=ADMIN_TOKEN)
    event_id = _notify(app)
    client = app.test_client()
    assert client.post(f"/_admin/notifications/{event_id}/redeliver").status_code == 401
    html = client.get(
        "/_admin/notifications", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).text
    assert "redeliver" not in html  # no resend button a browser could not authorize
    response = client.post(
        f"/_admin/notifications/{event_id}/redeliver",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": "application/json"},
    )
    assert response.status_code == 200


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["merchant_id", "state", "limit", "format", "id", "x"]),
        st.text(max_size=30),
        max_size=4,
    ),
    accept=st.sampled_from(["application/json", "text/html", "*/*", "", "garbage/;;"]),
)
def test_no_query_yields_a_5xx(app: Flask, params: dict[str, str], accept: str) -> None:
    response = app.test_client().get(
        "/_admin/notifications", query_string=params, headers={"Accept": accept}
    )
    assert response.status_code in (200, 400)


def test_the_html_filter_form_with_empty_fields_means_any(app: Flask) -> None:
    event_id = _notify(app)
    response = app.test_client().get("/_admin/notifications?merchant_id=&state=&limit=100")
    assert response.status_code == 200
    assert f'data-event-id="{event_id}"' in response.text


@pytest.mark.parametrize("limit", ["\u00b2", "\u0663", "-1", "0", "1001", "12345"])
def test_a_limit_that_is_not_ascii_digits_in_range_is_a_400(app: Flask, limit: str) -> None:
    # "²".isdigit() is True; found by the property test above.
    response = app.test_client().get(
        "/_admin/notifications", query_string={"limit": limit, "format": "json"}
    )
    assert response.status_code == 400
