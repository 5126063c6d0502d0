"""Talking to issuers over real HTTP: signed merchant requests, the test controls, the
buyer's consent page.

Races need every raw answer (status, body bytes), so the merchant side here is a thin
signer over ``requests`` rather than :class:`paylater_sdk.client.PayLaterClient`, which
retries and raises; the client is used where its behaviour is the point (notifications).
"""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import requests

from paylater_sdk.errors import ConflictError, CreditDeclinedError
from paylater_sdk.signing import RequestSigner, serial_for

from ._harness import SECRETS

__all__ = ["Answer", "Api", "Browser", "cny", "control", "create_buyer"]

TIMEOUT = 20


def cny(minor: int) -> dict[str, Any]:
    return {"value": minor, "currency": "CNY"}


@attrs.frozen
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            data = self.json()
        except ValueError:
            return None
        return data.get("code") if isinstance(data, dict) else None


_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


class Api:
    """Signed requests as one merchant, round-robin over one or several issuer URLs."""

    def __init__(
        self, urls: Sequence[str] | Callable[[], Sequence[str]], merchant_id: str, key: Any
    ):
        self._urls = urls
        self.merchant_id = merchant_id
        self.signer = RequestSigner(merchant_id, key, serial_for(key))
        self._turn = itertools.count()

    @property
    def urls(self) -> Sequence[str]:
        return self._urls() if callable(self._urls) else self._urls

    def next_url(self) -> str:
        urls = self.urls
        return urls[next(self._turn) % len(urls)]

    def signed(self, method: str, path: str, body: Any = None) -> tuple[dict[str, str], bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Authorization": self.signer.authorization(method, path, data)}
        if data:
            headers["Content-Type"] = "application/json"
        return headers, data

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        data: bytes,
        url: str | None = None,
    ) -> Answer:
        answer = _session().request(
            method,
            (url or self.next_url()) + path,
            data=data,
            headers=dict(headers),
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        return Answer(answer.status_code, answer.content, dict(answer.headers))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        url: str | None = None,
    ) -> Answer:
        headers, data = self.signed(method, path, body)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.send(method, path, headers=headers, data=data, url=url)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, {} if body is None else body, **kw)

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def checkout(
        self, out_trade_no: str, amount: int, notify_url: str, return_url: str, **kw: Any
    ) -> dict[str, Any]:
        body = {
            "out_trade_no": out_trade_no,
            "amount": cny(amount),
            "description": "reliability",
            "notify_url": notify_url,
            "return_url": return_url,
        }
        answer = self.post("/v1/checkouts", body, **kw)
        assert answer.status == 201, (answer.status, answer.body[:300])
        result: dict[str, Any] = answer.json()
        return result


def control(url: str, path: str, body: Any, *, headers: Mapping[str, str] | None = None) -> Answer:
    """An unsigned ``/_test`` call."""
    answer = _session().post(
        url + "/_test" + path, json=body, timeout=TIMEOUT, headers=dict(headers or {})
    )
    return Answer(answer.status_code, answer.content, dict(answer.headers))


def create_buyer(url: str, limit: int) -> dict[str, Any]:
    answer = control(url, "/buyers", {"limit": cny(limit)})
    assert answer.status == 201, answer.body[:300]
    buyer: dict[str, Any] = answer.json()
    SECRETS.add(buyer["buyer_token"])
    return buyer


_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
_DECLINE = re.compile(r'<p class="decline" data-reason="([A-Za-z0-9_]+)"')


class Browser:
    """A buyer's browser on the consent page; several issuer URLs are used in turn.

    It follows the form contract of docs/api.md ("Consent page"): a CSRF token in every
    form, ``step=signin`` with phone and code, ``step=confirm`` with a plan, then a 303
    back to the merchant or a ``<p class="decline" data-reason="...">``.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self.session = requests.Session()
        self._turn = itertools.count()

    def _url(self) -> str:
        return self.urls[next(self._turn) % len(self.urls)]

    def _send(self, path: str, data: Mapping[str, str] | None = None) -> requests.Response:
        url = self._url() + path
        if data is None:
            return self.session.get(url, timeout=TIMEOUT, allow_redirects=False)
        return self.session.post(url, data=dict(data), timeout=TIMEOUT, allow_redirects=False)

    def _form(self, path: str, data: Mapping[str, str] | None = None) -> str:
        """The CSRF token of the form page that ``path`` answers with."""
        page = self._send(path, data)
        found = _CSRF.search(page.text) if page.status_code == 200 else None
        if found is None:
            raise ConflictError(f"the consent page answered HTTP {page.status_code}")
        return html.unescape(found.group(1))

    def authorize(self, checkout_id: str, buyer: Mapping[str, Any], plan_id: str = "free-3") -> str:
        """The buyer signs in and confirms; returns the redirect back (raises on a decline)."""
        page = f"/authorize/{checkout_id}"
        token = self._form(page)
        token = self._form(
            page,
            {
                "csrf_token": token,
                "step": "signin",
                "phone": buyer["phone"],
                "code": buyer["test_code"],
            },
        )
        confirmed = self._send(page, {"csrf_token": token, "step": "confirm", "plan_id": plan_id})
        if confirmed.status_code == 303:
            return str(confirmed.headers["Location"])
        declined = _DECLINE.search(confirmed.text)
        if confirmed.status_code == 200 and declined:
            reason = declined.group(1)
            raise CreditDeclinedError(f"declined: {reason}", reason=reason, code="CREDIT_DECLINED")
        raise ConflictError(f"the consent page refused to confirm (HTTP {confirmed.status_code})")


def retry_in_progress(send: Callable[[], Answer], timeout: float = 10) -> Answer:
    """Repeat ``send`` while it answers the retryable 409 IDEMPOTENCY_IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        answer = send()
        if answer.code != "IDEMPOTENCY_IN_PROGRESS" or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def authorized_orders(
    api: Api,
    url: str,
    buyer: Mapping[str, Any],
    notify: str,
    *,
    count: int,
    amount: int,
    prefix: str,
) -> list[dict[str, Any]]:
    """``count`` checkouts authorized by ``buyer`` on the consent page: their orders."""
    found = []
    for n in range(count):
        checkout = api.checkout(f"{prefix}{n}", amount, notify + "notify", notify + "return")
        Browser([url]).authorize(checkout["id"], buyer)
        answer = api.get(f"/v1/checkouts/{checkout['id']}")
        assert answer.status == 200, answer.body[:300]
        order = answer.json()["order"]
        assert order is not None
        assert order["state"] == "AUTHORIZED", order
        found.append(order)
    return found


def capture(api: Api, order_id: str) -> dict[str, Any]:
    answer = api.post(f"/v1/orders/{order_id}/capture")
    assert answer.status == 200, answer.body[:300]
    order: dict[str, Any] = answer.json()
    return order
