"""The buyer's side of the consent page, driven over the form contract of docs/api.md.

Works on any Flask test client (or anything with the same ``get``/``post``), so the kit
exercises the very HTML form a buyer sees: CSRF token, ``step=signin`` with phone and test
code, ``step=confirm`` with a ``plan_id``, then the 303 to the merchant's ``return_url`` or
the ``<p class="decline" data-reason="...">`` element.
"""

from __future__ import annotations

import html
import re
from typing import Any

from ..errors import ConflictError, CreditDeclinedError, NotFoundError

_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
_DECLINE = re.compile(r'<p class="decline" data-reason="([A-Za-z0-9_]+)"')


def consent_flow(browser: Any, checkout_id: str, *, phone: str, code: str, plan_id: str) -> str:
    """Sign in, pick ``plan_id``, confirm; return the ``Location`` of the redirect back."""
    page = f"/authorize/{checkout_id}"
    first = browser.get(page)
    _expect_form(first, checkout_id)
    signed_in = browser.post(
        page,
        data={"csrf_token": _csrf(first), "step": "signin", "phone": phone, "code": code},
    )
    _expect_form(signed_in, checkout_id)
    confirmed = browser.post(
        page, data={"csrf_token": _csrf(signed_in), "step": "confirm", "plan_id": plan_id}
    )
    if confirmed.status_code == 303:
        location: str = confirmed.headers["Location"]
        return location
    text = confirmed.get_data(as_text=True)
    match = _DECLINE.search(text)
    if confirmed.status_code == 200 and match:
        reason = match.group(1)
        raise CreditDeclinedError(
            f"the buyer was declined: {reason}", reason=reason, code="CREDIT_DECLINED"
        )
    raise ConflictError(
        f"the consent page refused to confirm checkout {checkout_id} with plan "
        f"{plan_id!r} (HTTP {confirmed.status_code}): {page_text(text)}"
    )


def _expect_form(response: Any, checkout_id: str) -> None:
    if response.status_code == 404:
        raise NotFoundError(f"no checkout {checkout_id} on the consent page")
    if response.status_code != 200:
        raise ConflictError(
            f"the consent page for {checkout_id} answered HTTP {response.status_code}: "
            f"{page_text(response.get_data(as_text=True))}"
        )


def _csrf(response: Any) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    if match is None:
        raise ConflictError("the consent page has no csrf_token field")
    return html.unescape(match.group(1))


def page_text(page: str, limit: int = 300) -> str:
    """The visible text of an HTML page, shortened: for error messages."""
    text = re.sub(r"<[^>]+>", " ", page)
    return " ".join(html.unescape(text).split())[:limit]
