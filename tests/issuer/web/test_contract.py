"""The contract models: same verdicts as the validators they replaced, real answers fit them,
and docs/api.md's endpoint tables say what the route table serves."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from paylater_sdk.errors import InvalidRequestError
from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.web.contract import ROUTES, answers, bodies, validate
from tests._support.issuer import SignedClient, authorized, checkout_body, cny

from . import _legacy_wire as legacy

API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"

MODELS: dict[str, type[BaseModel]] = {
    "eligibility": bodies.CheckEligibility,
    "checkout": bodies.CreateCheckout,
    "empty": bodies.NoFields,
    "capture": bodies.CaptureOrder,
    "extend": bodies.ExtendOrder,
    "refund": bodies.CreateRefund,
    "buyer": bodies.CreateTestBuyer,
    "clock": bodies.AdvanceClock,
    "repay": bodies.Repay,
    "fault": bodies.InjectFault,
}

# --- the same verdict as the hand-written validators, on generated bodies ----------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_MONEY = st.fixed_dictionaries(
    {
        "value": st.sampled_from([0, 1, 12000, 10**13, 10**13 + 1, -1, True, Decimal("1.5")])
        | st.integers(),
        "currency": st.sampled_from(["CNY", "cny", "USD", "JPY", "XXX", " CNY", "", 5]),
    },
    optional={"x": st.integers(0, 1)},
)
_TEXT = st.sampled_from(
    ["", "a", "A1001", "x" * 11, "x" * 64, "x" * 65, "x" * 80, "x" * 81, "x" * 256, "x" * 257,
     "has space", "bell\x07", "tab\t", "del\x7f", "13800001111", "1380000111", "23800001111",
     "ord_1", "co|x*y.z-1_2", "蓝牙", "http://a", "https://shop.example/n", "ftp://x",
     "http://" + "a" * 506, "https://" + "a" * 505, "ACTIVE", "FROZEN", "active", "error_500",
     "timeout", "post", "POST", "BREW", "fenfu-3"]
)  # fmt: skip
_INT = st.sampled_from(
    [0, 1, 59, 60, 604800, 604801, 1000, 1001, 315360000, 315360001, -1, True, False,
     Decimal("60.0"), Decimal("1.5"), "60"]
)  # fmt: skip
_VALUE = st.one_of(
    _MONEY,
    _TEXT,
    _INT,
    st.lists(_TEXT, max_size=4),
    st.lists(st.just("fenfu-3"), min_size=19, max_size=21),
    st.sampled_from([None, True, False, [], {}]),
    _JSON,
)
#: A good value of each field, so generated bodies often get past their first fields.
_GOOD: dict[str, Any] = {
    "buyer_token": "bt_x",
    "amount": {"value": 100, "currency": "CNY"},
    "out_trade_no": "A1",
    "description": "d",
    "notify_url": "https://shop.example/n",
    "return_url": "http://shop.example/r",
    "plans": ["fenfu-3", "free-3"],
    "expires_in": 600,
    "order_id": "ord_1",
    "out_refund_no": "R-1",
    "reason": "r",
    "limit": {"value": 0, "currency": "cny"},
    "phone": "13800001111",
    "single_purchase_max": {"value": 10**13, "currency": "CNY"},
    "status": "FROZEN",
    "overdue": False,
    "final": False,
    "days": 5,
    "seconds": 60,
    "kind": "timeout",
    "method": "post",
    "path_prefix": "/v1",
    "count": 1000,
    "mode": "PREPAY",
    "prepay_keeps": "PERIODS",
    "metadata": {"order": "A1", "channel": "app"},
}


def _texts(max_len: int) -> list[Any]:
    return ["", "x" * max_len, "x" * (max_len + 1), "a\x00b", "a\nb", "del\x7f", "é" * max_len,
            " ", 5, None, True, ["x"], {"x": 1}, Decimal("1.5")]  # fmt: skip


def _ints(low: int, high: int) -> list[Any]:
    return [low - 1, low, high, high + 1, True, False, Decimal(low), Decimal("1.5"), str(low), None]


_MONEYS: list[Any] = [
    {"value": v, "currency": c}
    for v in (0, 1, 10**13, 10**13 + 1, -1, True, Decimal("1.0"), "100", None)
    for c in ("CNY", "cny", "JPY", "XXX", " CNY", 5)
] + [None, 120, "1.00", [], {}, {"value": 1}, {"currency": "CNY"},
     {"value": 1, "currency": "CNY", "x": 1}]  # fmt: skip

#: Values at and past the edge of each field's rule.
EDGES: dict[str, list[Any]] = {
    "buyer_token": _texts(80),
    "amount": _MONEYS,
    "single_purchase_max": _MONEYS,
    "limit": _MONEYS,
    "out_trade_no": [*_texts(64), "has space", "a|b*c.d-e_f", "中"],
    "out_refund_no": [*_texts(64), "has space", "R:1"],
    "description": _texts(256),
    "notify_url": [*_texts(512), "ftp://x", "http://", "https://" + "a" * 504,
                   "https://" + "a" * 505, "HTTP://x", "http://a\x01"],
    "return_url": ["http://x", "https:/x", "mailto:x"],
    "plans": [[], ["fenfu-3"] * 20, ["fenfu-3"] * 21, [""], ["x" * 65], ["a\x02"], [5],
              "fenfu-3", None, {"x": 1}],
    "expires_in": _ints(60, 7 * 24 * 3600),
    "order_id": _texts(64),
    "reason": _texts(256),
    "phone": [*_texts(11), "13800001111", "23800001111", "1380000111a", "138000011112"],
    "status": ["ACTIVE", "FROZEN", "active", "", None, 1, ["ACTIVE"]],
    "overdue": [True, False, 0, 1, "true", None],
    "final": [True, False, 0, 1, "true", None],
    "days": _ints(1, 365),
    "seconds": _ints(0, 10 * 365 * 24 * 3600),
    "kind": ["error_500", "timeout", "drop_notification", "duplicate_notification", "ERROR_500",
             "", None, 5],
    "method": ["GET", "post", "Patch", "BREW", "", None, 5, ["POST"]],
    "path_prefix": _texts(256),
    "count": _ints(1, 1000),
    "mode": ["DUE", "PAYOFF", "PREPAY", "due", "", None, 5, ["DUE"]],
    "prepay_keeps": ["PAYMENT", "PERIODS", "periods", "", None, 1],
    "metadata": [{}, {f"k{i}": "v" for i in range(20)}, {f"k{i}": "v" for i in range(21)},
                 {"": "v"}, {"k" * 40: "v"}, {"k" * 41: "v"}, {"k": "v" * 500},
                 {"k": "v" * 501}, {"k": 1}, {"k": None}, {"k": ["v"]}, {"a\nb": "v"},
                 {"k": "a\x00b"}, {"k": ""}, None, [], "x", 5],
}  # fmt: skip


def _edge_cases() -> list[tuple[str, str, int]]:
    cases = []
    for body in sorted(MODELS):
        required, optional = legacy.BODIES[body]
        for name in [*required, *optional]:
            cases += [(body, name, i) for i in range(len(EDGES[name]))]
    return cases


@pytest.mark.parametrize(("body", "name", "index"), _edge_cases())
def test_each_edge_value_gets_the_old_verdict(body: str, name: str, index: int) -> None:
    """Every field at and past its edges, in an otherwise good body."""
    required, optional = legacy.BODIES[body]
    sample = {field: _GOOD[field] for field in [*required, *optional]}
    sample[name] = EDGES[name][index]
    _same_verdict(body, sample)


def _same_verdict(body: str, sample: dict[str, Any]) -> None:
    old = _verdict(lambda: legacy.validate(body, sample))
    new = _verdict(lambda: validate(MODELS[body], sample))
    if old[0] == "ok" and new[0] == "ok":
        model = new[1]
        assert {name: getattr(model, name) for name in old[1]} == old[1]
        # the same values, Money to the digit (Decimal("1.0") == Decimal("1.00") is not enough)
        assert {name: repr(getattr(model, name)) for name in old[1]} == {
            name: repr(value) for name, value in old[1].items()
        }
        assert set(type(model).model_fields) == set(old[1])
    else:
        assert new == old


def _verdict(check: Any) -> tuple[str, Any]:
    try:
        return "ok", check()
    except InvalidRequestError as exc:
        return "refused", (exc.code, exc.message, getattr(exc, "field", None))


@pytest.mark.parametrize("body", sorted(MODELS))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_models_decide_and_word_like_the_old_validators(body: str, data: Any) -> None:
    required, optional = legacy.BODIES[body]
    names = [*required, *optional, "surprise", "x" * 50]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    if data.draw(st.booleans()):  # mostly complete bodies, so later fields are reached
        chosen = list(dict.fromkeys([*required, *chosen]))
    sample = {}
    for name in chosen:
        good = name in _GOOD and data.draw(st.integers(0, 3), label=f"{name} good?") > 0
        if good:
            sample[name] = _GOOD[name]
        elif name in EDGES and data.draw(st.booleans(), label=f"{name} edge?"):
            sample[name] = data.draw(st.sampled_from(EDGES[name]), label=name)
        else:
            sample[name] = data.draw(_VALUE, label=name)
    _same_verdict(body, sample)


def test_a_float_for_money_is_refused_as_before() -> None:
    body = checkout_body()
    body["amount"] = {"value": Decimal("120.0"), "currency": "CNY"}  # how 120.0 parses
    with pytest.raises(InvalidRequestError) as refused:
        validate(bodies.CreateCheckout, body)
    assert (refused.value.code, refused.value.field) == ("INVALID_AMOUNT", "amount")
    assert refused.value.message == (
        "amount: amount 'value' must be an integer number of minor units"
    )


def test_optional_fields_refuse_null_unless_the_rule_allows_it() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        validate(bodies.CreateCheckout, {**checkout_body(), "expires_in": None})
    assert refused.value.message == "expires_in must be an integer from 60 to 604800"
    refund = {"order_id": "ord_1", "amount": cny(1), "out_refund_no": "R1", "reason": None}
    assert validate(bodies.CreateRefund, refund).reason is None


# --- the answers fit their models ---------------------------------------------------------


def test_real_answers_fit_the_response_models(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    checkout = authorized(api, issuer, buyer)
    answers.Checkout.model_validate(checkout)
    order_id = checkout["order"]["id"]
    captured = api.post(f"/v1/orders/{order_id}/capture", {})
    answers.Order.model_validate(captured.get_json())
    refund = api.post(
        "/v1/refunds", {"order_id": order_id, "amount": cny(10_00), "out_refund_no": "R1"}
    )
    answers.Refund.model_validate(refund.get_json())
    found = api.get(f"/v1/checkouts/{checkout['id']}").get_json()
    assert answers.Checkout.model_validate(found).order is not None
    answers.Quote.model_validate(api.get("/v1/plans/quote?amount=12000&currency=CNY").get_json())
    answers.Certificates.model_validate(api.get("/v1/certificates").get_json())
    eligibility = api.post(
        "/v1/credit/eligibility", {"buyer_token": buyer.buyer_token, "amount": cny(100)}
    )
    answers.Eligibility.model_validate(eligibility.get_json())
    error = api.post("/v1/checkouts", {"surprise": 1}).get_json()
    assert answers.Error.model_validate(error).field == "surprise"


def test_every_route_row_has_a_success_answer_model_but_the_document() -> None:
    missing = [r.operation_id for r in ROUTES if r.answer.model is None]
    assert missing == ["getOpenAPI", "downloadTradeBill"]  # a file
    posts = [r for r in ROUTES if r.method == "POST"]
    assert len(posts) >= 12  # every POST of docs/api.md, /_test/buyers/apply included
    assert [r.operation_id for r in posts if r.body is None] == []


# --- docs/api.md's endpoint tables ----------------------------------------------------------

_ROW = re.compile(r"\| `(GET|POST) (/[^`?]*)(?:\?[^`]*)?` \| (.*?) \| (.*) \|")
_KEY = re.compile(r'(?:\{|, )"([a-z_]+)"(\?)?')


def _documented() -> dict[tuple[str, str], tuple[str, str]]:
    rows = {}
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        row = _ROW.fullmatch(line)
        if row:
            path = re.sub(r"\{[a-z_]+\}", "{}", row.group(2))
            rows[(row.group(1), path)] = (row.group(3), row.group(4))
    return rows


def _served() -> dict[tuple[str, str], Any]:
    return {(r.method, re.sub(r"\{[a-z_]+\}", "{}", r.path)): r for r in ROUTES}


def test_the_endpoint_tables_list_exactly_the_routes() -> None:
    documented, served = _documented(), _served()
    assert len(documented) > 15
    assert sorted(documented) == sorted(served)


@pytest.mark.parametrize("key", sorted(_served()), ids=lambda key: f"{key[0]} {key[1]}")
def test_each_documented_row_matches_its_route(key: tuple[str, str]) -> None:
    route = _served()[key]
    body, answer = _documented()[key]
    if route.body is None:
        assert body == "-"
    else:
        fields = {name: mark != "?" for name, mark in _KEY.findall(body)}
        declared = {name: info.is_required() for name, info in route.body.model_fields.items()}
        assert fields == declared, body
    if route.answer.model is not None:
        assert answer.startswith(str(route.answer.status)), answer


# --- where the contract lives -------------------------------------------------------------


def test_only_the_web_layer_knows_the_contract_or_pydantic() -> None:
    """The domain, storage and delivery layers import neither pydantic nor the contract."""
    issuer = Path(__file__).resolve().parents[3] / "paylater_sdk" / "issuer"
    checked = 0
    for layer in ("domain", "storage", "delivery"):
        for path in sorted((issuer / layer).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            checked += 1
            assert not re.search(r"^\s*(from|import) pydantic", text, re.M), path
            web = r"^\s*(from|import)\s+(\.\.web|paylater_sdk\.issuer\.web)\b"
            assert not re.search(web, text, re.M), path
    assert checked > 20
