"""The default notification transport and the environment: the proxy it names is used, and
a ``.netrc`` entry never adds credentials to a notification (paylater_sdk._sessions; the
reading once per host is tested in tests/test_sessions.py)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from paylater_sdk.issuer.delivery import outbox
from tests._support.http_environment import netrc_for, recording_server

T = TypeVar("T")


def in_new_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on a thread of its own: each delivery thread makes its own session."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result(timeout=30)


def test_a_notification_goes_through_the_proxy_the_environment_names(
    http_env: pytest.MonkeyPatch,
) -> None:
    with recording_server(status=204) as proxy:
        http_env.setenv("HTTP_PROXY", proxy.url)
        status = in_new_thread(
            lambda: outbox.requests_transport("http://shop.invalid/notify", {}, b"{}", 5.0)
        )
    assert status == 204
    assert [(m, t) for m, t, _ in proxy.requests] == [("POST", "http://shop.invalid/notify")]


def test_a_netrc_entry_adds_no_credentials_to_a_notification(
    http_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc_for("127.0.0.1", tmp_path, http_env)
    with recording_server() as shop:
        status = in_new_thread(
            lambda: outbox.requests_transport(shop.url + "/notify", {"X-A": "1"}, b"{}", 5.0)
        )
    assert status == 200
    [(_, _, headers)] = shop.requests
    assert headers["X-A"] == "1"
    assert "Authorization" not in headers
