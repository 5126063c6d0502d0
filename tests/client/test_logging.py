"""Logging: method, path, status, request id and timing; never keys or full buyer tokens."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from paylater_sdk import Money
from paylater_sdk.client import PayLaterClient
from paylater_sdk.client._identity import mask
from paylater_sdk.errors import NetworkError
from tests._support.client_fakes import API_KEY, FakeIssuer, plan_json

TOKEN = "bt_live_9f8e7d6c5b4a3210"


def test_calls_are_logged_without_secrets(
    client: PayLaterClient,
    fake_issuer: FakeIssuer,
    mock: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = {"eligible": True, "reasons": [], "plans": [plan_json()]}
    fake_issuer.route(mock, "POST", "/v1/credit/eligibility", [(200, answer)])
    caplog.set_level(logging.DEBUG, logger="paylater_sdk")

    client.credit.eligibility(TOKEN, Money("120.00", "CNY"))

    records = [r for r in caplog.records if r.name == "paylater_sdk"]
    assert next(r.getMessage() for r in records) == "paylater eligibility check for buyer bt_l…"
    line = records[-1].getMessage()
    assert "POST /v1/credit/eligibility -> 200" in line
    assert "request_id=req_1" in line
    assert "elapsed_ms=" in line
    everything = caplog.text
    authorization = fake_issuer.seen[0].headers["Authorization"]
    signature = authorization.split('signature="')[1].rstrip('"')
    assert TOKEN not in everything
    assert TOKEN[:8] not in everything
    assert API_KEY.decode() not in everything
    assert signature not in everything
    assert signature[:16] not in everything


def test_retries_are_logged_as_warnings(
    client: PayLaterClient,
    fake_issuer: FakeIssuer,
    mock: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [requests.ConnectionError("reset")])
    caplog.set_level(logging.INFO, logger="paylater_sdk")
    with pytest.raises(NetworkError):
        client.checkouts.get("co_1")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(" in ")[0] for r in warnings] == [
        "paylater retrying GET /v1/checkouts/co_1"
    ] * 2


def test_mask() -> None:
    assert mask(TOKEN) == "bt_l…"
    assert mask("abc") == "…"
