"""Delinquency bucket moves under races: two issuer processes, real HTTP, real threads.

Each process sweeps once per business day, and a repayment records the move it causes; all
of them run under the buyer's row lock, so however the sweeps of two processes and the
repayments interleave, the recorded moves form one chain (each move starts where the last
one ended, none repeats the bucket it leaves) ending at the buyer's bucket. Without the
lock two sweeps of one day could both record ``CURRENT -> M1``; and a repayment that read
the business clock before another thread's advance (and so is dated the day before) must
not record that earlier day's bucket over the later day's (it is judged as of the later).
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
import requests

from ._harness import Merchant, check_ledger, rows
from ._http import Answer, Api, authorized_orders, capture, cny, control, create_buyer
from .conftest import StartIssuers
from .test_races import no_server_errors, race

pytestmark = pytest.mark.reliability

DAY = 24 * 3600


def _moves(database_url: str, buyer_id: str) -> list[tuple[str, str, int]]:
    found = rows(
        database_url,
        "SELECT data_json FROM buyer_events WHERE buyer_id = :b "
        "AND event_type = 'ACCOUNT.BUCKET_CHANGED' ORDER BY id",
        b=buyer_id,
    )
    return [
        (data["from"], data["to"], data["days_past_due"])
        for data in (json.loads(r[0]) for r in found)
    ]


def test_sweeps_of_two_processes_and_repayments_record_one_chain_of_moves(
    database_url: str, receiver: Any, start_issuers: StartIssuers, merchant_a: Merchant
) -> None:
    prefix = receiver.url + "/"
    servers = start_issuers(database_url, prefix, count=2)
    urls = [s.url for s in servers]
    api = Api(urls, merchant_a.id, merchant_a.key)
    buyer = create_buyer(urls[0], 5000_00)
    orders = authorized_orders(api, urls[0], buyer, prefix, count=2, amount=600_00, prefix="BK")
    for order in orders:
        capture(api, order["id"])
    # to the first due date: nothing is late yet
    assert control(urls[0], "/clock/advance", {"seconds": 31 * DAY}).status == 200

    def job(i: int) -> Answer:
        url = urls[i % 2]
        if i % 4 < 2:  # each process's clock moves, so each sweeps a new day
            return control(url, "/clock/advance", {"seconds": 9 * DAY})
        if i % 4 == 2:  # a repayment of one order's whole past due, racing the sweeps
            return control(url, f"/buyers/{buyer['id']}/repay", {"order_id": orders[0]["id"]})
        return control(url, f"/buyers/{buyer['id']}/repay", {"amount": cny(1_00)})

    for _ in range(3):
        answers = race(8, job)
        no_server_errors(answers)
        assert all(a.status in (200, 400, 409) for a in answers), [
            (a.status, a.code) for a in answers
        ]
    # a quiet day: both processes sweep it (a move judged late in the race stands corrected)
    assert control(urls[0], "/clock/advance", {"seconds": DAY}).status == 200
    assert control(urls[1], "/clock/advance", {"seconds": 0}).status == 200
    moves = _moves(database_url, buyer["id"])
    assert moves, "the buyer went late: at least one move is recorded"
    assert moves[0][0] == "CURRENT"
    for earlier, later in pairwise(moves):
        assert later[0] == earlier[1]  # each starts where the last one ended
    assert all(move_from != move_to for move_from, move_to, _ in moves)
    view = requests.get(
        f"{urls[1]}/_admin/buyers/{buyer['id']}/servicing?format=json", timeout=30
    ).json()
    assert moves[-1][1] == view["delinquency"]["bucket"]
    check_ledger(database_url)
