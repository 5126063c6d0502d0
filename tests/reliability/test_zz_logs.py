"""No secret in any log (issue 9, defect 8). Runs last in this folder (file order).

Checks every log file written by a server of this session: merchant API keys and private
keys, the issuer's session secret and signing keys, the shop's secrets, buyer tokens. The
test first adds its own probes of the error paths: three issuers racing to set up one
fresh database (a lost race there is a database error whose bound parameters include
merchant API keys), concurrent creation of buyers with one phone (the new buyer's token)
and inputs a database cannot encode.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ._harness import (
    SECRETS,
    Merchant,
    check_ledger,
    issuer_server,
    merchants_file,
    remember_issuer_keys,
)
from ._http import Api, cny, control, create_buyer
from ._procs import LOGS, Server, wait_until
from .conftest import StartIssuers
from .test_races import race

pytestmark = pytest.mark.reliability

#: A generated buyer token (the public magic tokens are bt_decline_...).
_TOKEN = re.compile(r"bt_(?!decline_)[A-Za-z0-9_\-]{20,}")


def settled(server: Server) -> bool:
    """Serving, or exited (a start-up race may kill a process: its log is what counts)."""
    assert server.proc is not None
    return server.proc.poll() is not None or "Serving on" in server.log_text()


def test_no_secret_in_any_log(
    database_url: str,
    receiver: Any,
    start_issuers: StartIssuers,
    servers: list[Server],
    merchant_a: Merchant,
    tmp_path: Path,
    logdir: Path,
) -> None:
    merchants = merchants_file(
        tmp_path / "racers.json", [merchant_a.config([receiver.url + "/"], [receiver.url + "/"])]
    )
    racers = [issuer_server(f"racer{i}", logdir, database_url, merchants) for i in range(3)]
    servers.extend(racers)
    for racer in racers:
        racer.start()
    for racer in racers:
        wait_until(f"{racer.name} to serve or exit", partial(settled, racer), timeout=60)
    for racer in racers:
        racer.stop()
    [server] = start_issuers(database_url, receiver.url + "/")
    remember_issuer_keys(database_url)
    api = Api([server.url], merchant_a.id, merchant_a.key)
    buyer = create_buyer(server.url, 1000_00)
    same_phone = {"phone": "13800000042", "limit": cny(1000_00)}
    race(8, lambda i: control(server.url, "/buyers", same_phone))
    body = b'{"buyer_token": "' + buyer["buyer_token"].encode() + b'\\ud800", "amount": '
    body += b'{"value": 10000, "currency": "CNY"}}'
    headers, _ = api.signed("POST", "/v1/credit/eligibility", {})
    headers["Authorization"] = api.signer.authorization("POST", "/v1/credit/eligibility", body)
    api.send("POST", "/v1/credit/eligibility", headers=headers, data=body)
    server.stop()

    assert LOGS
    assert len(SECRETS) >= 5
    leaks = []
    for path in LOGS:
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        leaks += [(path.name, secret[:6] + "...") for secret in SECRETS if secret in text]
        leaks += [(path.name, m[:6] + "...") for m in _TOKEN.findall(text)]
    assert leaks == []
    check_ledger(database_url)
