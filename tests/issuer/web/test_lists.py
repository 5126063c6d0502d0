"""GET /v1/checkouts, /v1/refunds and /v1/events: cursor pages, filters, refusals, and the
find form of GET /v1/checkouts kept as it was."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.lifecycle import API_VERSION
from tests._support.issuer import SignedClient, authorized, cny, new_checkout


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["data"]]


def _make(api: SignedClient, count: int) -> list[str]:
    return [new_checkout(api, f"L{i}", 100_00 + i)["id"] for i in range(count)]


def test_pages_walk_newest_first_without_gaps_or_repeats(api: SignedClient) -> None:
    created = _make(api, 7)
    newest_first = list(reversed(created))
    first = api.get("/v1/checkouts?limit=3")
    assert _ids(first) == newest_first[:3]
    assert first.get_json()["has_more"] is True
    second = api.get(f"/v1/checkouts?limit=3&starting_after={newest_first[2]}")
    assert _ids(second) == newest_first[3:6]
    third = api.get(f"/v1/checkouts?limit=3&starting_after={newest_first[5]}")
    assert _ids(third) == newest_first[6:]
    assert third.get_json()["has_more"] is False
    # ending_before: the objects just newer than the cursor, shown newest first
    back = api.get(f"/v1/checkouts?limit=2&ending_before={newest_first[5]}")
    assert _ids(back) == newest_first[3:5]
    assert back.get_json()["has_more"] is True
    top = api.get(f"/v1/checkouts?limit=5&ending_before={newest_first[2]}")
    assert _ids(top) == newest_first[:2]
    assert top.get_json()["has_more"] is False
    assert _ids(api.get("/v1/checkouts")) == newest_first  # default limit 20


def test_the_find_form_is_kept_and_the_list_form_is_explicit(api: SignedClient) -> None:
    checkout = new_checkout(api, "FIND1")
    found = api.get("/v1/checkouts?out_trade_no=FIND1")
    assert found.status_code == 200
    assert found.get_json()["id"] == checkout["id"]  # one Checkout, as always
    assert api.get("/v1/checkouts?out_trade_no=NOPE").status_code == 404
    listed = api.get("/v1/checkouts?out_trade_no=FIND1&limit=20")
    assert listed.get_json() == {"data": [found.get_json()], "has_more": False}
    assert api.get("/v1/checkouts?out_trade_no=NOPE&limit=1").get_json() == {
        "data": [],
        "has_more": False,
    }


def test_filters_state_time_and_trade_no(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    open_one = new_checkout(api, "F-open")
    paid = authorized(api, issuer, buyer, "F-paid")
    assert _ids(api.get("/v1/checkouts?state=AUTHORIZED")) == [paid["id"]]
    assert _ids(api.get("/v1/checkouts?state=CREATED")) == [open_one["id"]]
    created = quote(open_one["created_at"])  # "+00:00": a raw + would read as a space
    assert set(_ids(api.get(f"/v1/checkouts?created_gte={created}"))) == {
        open_one["id"],
        paid["id"],
    }
    assert _ids(api.get(f"/v1/checkouts?created_lt={created}")) == []
    assert _ids(api.get("/v1/checkouts?out_trade_no=F-paid&state=AUTHORIZED")) == [paid["id"]]


def test_refund_list_and_its_trade_no_filter(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    ids = []
    for trade_no in ("R-a", "R-b"):
        checkout = authorized(api, issuer, buyer, trade_no)
        order_id = checkout["order"]["id"]
        assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
        refund = api.post(
            "/v1/refunds",
            {"order_id": order_id, "amount": cny(10_00), "out_refund_no": f"{trade_no}-1"},
        )
        assert refund.status_code == 201
        ids.append(refund.get_json()["id"])
    assert _ids(api.get("/v1/refunds")) == list(reversed(ids))
    assert _ids(api.get("/v1/refunds?out_trade_no=R-a")) == [ids[0]]
    assert _ids(api.get("/v1/refunds?state=SUCCEEDED&limit=1")) == [ids[1]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("starting_after=co_x&ending_before=co_y", "ending_before"),
        ("starting_after=co_unknown", "starting_after"),
        ("ending_before=bad%20id", "ending_before"),
        ("state=PAID", "state"),
        ("created_gte=2026-12-01", "created_gte"),
        ("created_lt=yesterday", "created_lt"),
        ("out_trade_no=has%20space", "out_trade_no"),
        ("sort=asc", "sort"),
    ],
)
def test_bad_list_parameters_are_400_with_the_field(
    api: SignedClient, query: str, field: str
) -> None:
    for path in ("/v1/checkouts", "/v1/refunds", "/v1/events"):
        response = api.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.get_json())
        assert response.get_json()["code"] == "INVALID_QUERY"
        assert response.get_json()["field"] == field


def test_another_merchants_objects_are_not_listed_nor_cursors(
    api: SignedClient, other_api: SignedClient
) -> None:
    mine = new_checkout(api, "MINE")
    assert _ids(other_api.get("/v1/checkouts")) == []
    refused = other_api.get(f"/v1/checkouts?starting_after={mine['id']}")
    assert refused.status_code == 400
    assert refused.get_json()["field"] == "starting_after"


def test_metadata_is_stored_returned_and_carried_by_the_order(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    body = {
        "out_trade_no": "META1",
        "amount": cny(120_00),
        "description": "d",
        "notify_url": "https://shop.example/notify",
        "return_url": "https://shop.example/return",
        "metadata": {"order_ref": "SO-77", "渠道": "小程序"},
    }
    created = api.post("/v1/checkouts", body)
    assert created.status_code == 201
    assert created.get_json()["metadata"] == {"order_ref": "SO-77", "渠道": "小程序"}
    checkout = issuer.orders.authorize(
        created.get_json()["id"], buyer_id=buyer.id, plan_id="fenfu-6"
    )
    assert checkout["order"]["metadata"] == {"order_ref": "SO-77", "渠道": "小程序"}
    order_id = checkout["order"]["id"]
    api.post(f"/v1/orders/{order_id}/capture", {})
    refund = api.post(
        "/v1/refunds",
        {"order_id": order_id, "amount": cny(1_00), "out_refund_no": "MR1", "metadata": {"k": "v"}},
    )
    assert refund.get_json()["metadata"] == {"k": "v"}
    assert api.get(f"/v1/refunds/{refund.get_json()['id']}").get_json()["metadata"] == {"k": "v"}
    plain = new_checkout(api, "META2")
    assert plain["metadata"] == {}
    events = api.get("/v1/events?out_trade_no=META1").get_json()["data"]
    assert [e["type"] for e in events] == [
        "REFUND.SUCCEEDED",
        "ORDER.CAPTURED",
        "CHECKOUT.AUTHORIZED",
    ]
    assert events[-1]["resource"]["metadata"] == {"order_ref": "SO-77", "渠道": "小程序"}
    assert events[0]["resource"]["metadata"] == {"k": "v"}


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({f"k{i}": "v" for i in range(21)}, "more than 20 keys"),
        ({"k" * 41: "v"}, "keys must be 1 to 40"),
        ({"k": "v" * 501}, "at most 500"),
        ({"k": 5}, "must be a string"),
        ([], "must be an object"),
        (None, "must be an object"),
    ],
)
def test_bad_metadata_is_a_clear_400(api: SignedClient, metadata: Any, words: str) -> None:
    body = {
        "out_trade_no": "BADMETA",
        "amount": cny(120_00),
        "description": "d",
        "notify_url": "https://shop.example/notify",
        "return_url": "https://shop.example/return",
        "metadata": metadata,
    }
    response = api.post("/v1/checkouts", body)
    assert response.status_code == 400
    assert response.get_json()["field"] == "metadata"
    assert words in response.get_json()["message"]


def test_the_version_header_is_echoed_and_an_unknown_one_refused(api: SignedClient) -> None:
    plain = api.get("/v1/checkouts")
    assert plain.headers["Paylater-Version"] == API_VERSION
    same = api.get("/v1/checkouts", headers={"Paylater-Version": API_VERSION})
    assert same.status_code == 200
    assert same.headers["Paylater-Version"] == API_VERSION
    missing = api.get("/v1/no-such-endpoint")
    assert missing.status_code == 404
    assert missing.headers["Paylater-Version"] == API_VERSION
    other = api.get("/v1/checkouts", headers={"Paylater-Version": "2019-01-01"})
    assert other.status_code == 400
    assert other.get_json()["code"] == "UNSUPPORTED_VERSION"
    assert other.get_json()["field"] == "Paylater-Version"
    assert other.headers["Paylater-Version"] == API_VERSION
