"""Lists under concurrent inserts (SQLite, and PostgreSQL with PAYLATER_TEST_POSTGRES_URL):
real threads create checkouts and events while a reader pages, and no page skips or
repeats an object; a transaction numbered first commits first."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask

from paylater_sdk.issuer import Issuer
from paylater_sdk.issuer.storage.positions import next_position
from paylater_sdk.money import Money
from tests._support.issuer import MERCHANT_ID, NOTIFY, RETURN, SignedClient

WRITERS, EACH = 4, 30
_WRITER = threading.local()


def _stall_before_commit(conn: Any) -> None:
    """Widen the window between numbering and commit in writer threads, so that commits
    out of numbering order would happen (and a page skip show) if positions allowed it."""
    if getattr(_WRITER, "on", False):
        time.sleep(random.random() / 50)


def _create(issuer: Issuer, trade_no: str) -> str:
    checkout = issuer.orders.create_checkout(
        MERCHANT_ID,
        out_trade_no=trade_no,
        amount=Money("120.00", "CNY"),
        description="d",
        notify_url=NOTIFY,
        return_url=RETURN,
        plan_ids=None,
        expires_in=None,
        base_url="http://issuer.test/",
    )
    issuer.orders.close_checkout(MERCHANT_ID, checkout["id"])  # a CHECKOUT.CLOSED event
    return str(checkout["id"])


def _walk(api: SignedClient, path: str, limit: int) -> list[str]:
    """Every id from the newest page down, through starting_after."""
    seen: list[str] = []
    query = f"{path}?limit={limit}"
    while True:
        body = api.get(query).get_json()
        seen += [item["id"] for item in body["data"]]
        if not body["has_more"]:
            return seen
        query = f"{path}?limit={limit}&starting_after={seen[-1]}"


def _catch_up(api: SignedClient, path: str, newest: str | None) -> tuple[list[str], str | None]:
    """Every id newer than ``newest`` (all of them at first), oldest first."""
    if newest is None:
        walked = _walk(api, path, 5)
        return list(reversed(walked)), (walked[0] if walked else None)
    got: list[str] = []
    while True:
        body = api.get(f"{path}?limit=5&ending_before={newest}").get_json()
        ids = [item["id"] for item in body["data"]]
        got += list(reversed(ids))
        if ids:
            newest = ids[0]
        if not body["has_more"]:
            return got, newest


def test_pages_never_skip_or_repeat_while_others_insert(
    app: Flask, issuer: Issuer, merchant_key: Any
) -> None:
    api = SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key)
    created: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS + 1)
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        _WRITER.on = True
        try:
            start.wait()
            for i in range(EACH):
                checkout_id = _create(issuer, f"W{n}-{i}")
                with lock:
                    created.append(checkout_id)
        except BaseException as exc:  # reported below, never lost in a thread
            failures.append(exc)

    sa.event.listen(issuer.engine, "commit", _stall_before_commit)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    start.wait()
    caught: dict[str, list[str]] = {"/v1/checkouts": [], "/v1/events": []}
    newest: dict[str, str | None] = {"/v1/checkouts": None, "/v1/events": None}
    while any(thread.is_alive() for thread in threads):
        with lock:
            committed_before = list(created)
        walked = _walk(api, "/v1/checkouts", 7)
        assert len(walked) == len(set(walked)), "a page repeated an object"
        assert set(committed_before) <= set(walked), "a walk skipped a committed object"
        for path in caught:
            got, newest[path] = _catch_up(api, path, newest[path])
            caught[path] += got
    for thread in threads:
        thread.join()
    sa.event.remove(issuer.engine, "commit", _stall_before_commit)
    assert failures == []
    for path in caught:
        got, newest[path] = _catch_up(api, path, newest[path])
        caught[path] += got
    assert len(created) == WRITERS * EACH
    checkouts = caught["/v1/checkouts"]
    assert len(checkouts) == len(set(checkouts)) == len(created)
    assert set(checkouts) == set(created)
    assert _walk(api, "/v1/checkouts", 100) == list(reversed(checkouts))
    events = caught["/v1/events"]
    assert len(events) == len(set(events)) == len(created)  # one CHECKOUT.CLOSED each
    assert _walk(api, "/v1/events", 9) == list(reversed(events))


def test_a_transaction_numbered_first_commits_first(issuer: Issuer) -> None:
    """The counter row's lock: a later creation waits until the earlier one commits, so a
    reader can never see position N+1 without N."""
    finished = threading.Event()

    def later() -> None:
        _create(issuer, "LATER")
        finished.set()

    with issuer.engine.begin() as conn:
        first = next_position(conn, MERCHANT_ID)
        thread = threading.Thread(target=later)
        thread.start()
        thread.join(timeout=1.0)
        assert not finished.is_set()  # it waits for this transaction's commit
    thread.join()
    assert finished.is_set()
    from paylater_sdk.issuer.storage.schema import checkouts

    with issuer.engine.connect() as conn:
        later_seq = conn.execute(
            sa.select(checkouts.c.list_seq).where(checkouts.c.out_trade_no == "LATER")
        ).scalar_one()
    assert later_seq > first
