"""The client over real sockets: the mock issuer served by waitress on 127.0.0.1.

Everything else runs through ``responses``; this proves the same calls work through
``requests``' real adapter and a real WSGI server (path and query signed exactly as sent,
plain http allowed to loopback only).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import waitress
from waitress import wasyncore

from paylater_sdk import Money
from paylater_sdk.client import CheckoutState, PayLaterClient
from paylater_sdk.errors import AuthenticationError, InvalidRequestError, NotFoundError
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.signing import generate_private_key, public_key_pem, serial_for
from tests._support.http_environment import netrc_for

API_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def served(tmp_path: Any) -> Iterator[tuple[str, Any, Any]]:
    key = generate_private_key("ed25519")
    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'issuer.db'}",
            "MERCHANTS": [
                {
                    "id": "m_real",
                    "name": "Real HTTP shop",
                    "public_keys": [public_key_pem(key).decode()],
                    "api_key": API_KEY,
                    "notify_prefixes": ["http://127.0.0.1"],
                    "return_prefixes": ["http://127.0.0.1"],
                }
            ],
        }
    )
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)

    def run() -> None:
        with contextlib.suppress(OSError, ValueError):  # the loop may see a closed socket
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", key, app
    finally:
        server.task_dispatcher.shutdown(timeout=5)
        with contextlib.suppress(OSError):
            wasyncore.close_all(server._map)
        thread.join(timeout=5)
        get_issuer(app).engine.dispose()


def test_calls_over_real_http(served: tuple[str, Any, Any]) -> None:
    base_url, key, app = served
    with PayLaterClient(
        base_url,
        merchant_id="m_real",
        private_key=key,
        key_serial=serial_for(key),
        api_key=API_KEY,
    ) as client:
        quote = client.plans.quote(Money("300.00", "CNY"))
        assert [p.plan_id for p in quote.plans]
        checkout = client.checkouts.create(
            out_trade_no="A1001-x.y",
            amount=Money("300.00", "CNY"),
            description="Tea 茶",
            notify_url="http://127.0.0.1/notify",
            return_url="http://127.0.0.1/return",
        )
        assert client.checkouts.find("A1001-x.y").id == checkout.id
        with pytest.raises(InvalidRequestError) as bad:  # quoted query: still verifies
            client.checkouts.find("A 1001/é&x=1")
        assert bad.value.code == "INVALID_QUERY"
        assert client.checkouts.get(checkout.id).state is CheckoutState.CREATED
        with pytest.raises(NotFoundError) as info:
            client.checkouts.get("co_missing")
        assert info.value.request_id
        assert client.checkouts.close(checkout.id).state is CheckoutState.CLOSED
    assert get_issuer(app).check_ledger() == []


def test_lists_and_auto_paging_over_real_http(served: tuple[str, Any, Any]) -> None:
    """Cursors, filters and times (``+00:00`` percent-encoded) signed and sent as-is, by the
    requests client and by the httpx one over real sockets."""
    import anyio

    from paylater_sdk.client import AsyncPayLaterClient

    base_url, key, _ = served
    options: dict[str, Any] = {
        "merchant_id": "m_real",
        "private_key": key,
        "key_serial": serial_for(key),
        "api_key": API_KEY,
    }
    with PayLaterClient(base_url, **options) as client:
        ids = []
        for i in range(5):
            made = client.checkouts.create(
                out_trade_no=f"L-{i}",
                amount=Money("300.00", "CNY"),
                description="Tea",
                notify_url="http://127.0.0.1/notify",
                return_url="http://127.0.0.1/return",
                metadata={"n": str(i)},
            )
            ids.append(made.id)
        since = client.checkouts.get(ids[0]).created_at
        page = client.checkouts.list(limit=2, created_gte=since, state="CREATED")
        assert [c.id for c in page.auto_paging_iter()] == list(reversed(ids))
        assert [c.metadata["n"] for c in page.data] == ["4", "3"]
        client.checkouts.close(ids[1])
        [closed] = client.events.list(out_trade_no="L-1")
        assert closed.event_type.value == "CHECKOUT.CLOSED"

    async def walk() -> list[str]:
        async with AsyncPayLaterClient(base_url, **options) as aclient:
            first = await aclient.checkouts.list(limit=2)
            return [c.id async for c in first.auto_paging_iter()]

    assert anyio.run(walk) == list(reversed(ids))


def test_a_netrc_entry_for_the_issuer_never_replaces_the_signature(
    served: tuple[str, Any, Any], tmp_path: Any, http_env: pytest.MonkeyPatch
) -> None:
    """requests alone applies a ``.netrc`` entry as Basic auth over the signed header; the
    client's own session never reads ``.netrc`` (paylater_sdk._sessions)."""
    base_url, key, _ = served
    netrc_for("127.0.0.1", tmp_path, http_env)
    options: dict[str, Any] = {
        "merchant_id": "m_real",
        "private_key": key,
        "key_serial": serial_for(key),
        "api_key": API_KEY,
        "max_retries": 0,
    }
    with PayLaterClient(base_url, **options) as client:
        made = client.checkouts.create(
            out_trade_no="N-1",
            amount=Money("300.00", "CNY"),
            description="Tea",
            notify_url="http://127.0.0.1/notify",
            return_url="http://127.0.0.1/return",
        )
        assert client.checkouts.get(made.id).state is CheckoutState.CREATED
    with (
        PayLaterClient(base_url, session=requests.Session(), **options) as plain,
        pytest.raises(AuthenticationError),
    ):
        plain.checkouts.get(made.id)  # the premise: a plain session sends the password
