"""The unmodified ``wechatpayv3`` client, its own signature verification on, against
``paylater issuer serve`` over real HTTP on loopback: the whole 分付 flow of a WeChat Pay
merchant, in certificate mode and in public-key mode.

The client's gateway is ``https://api.mch.weixin.qq.com``; the test points it at the
loopback server (certificate mode also while the client downloads the platform
certificates in its constructor), nothing else of the package is touched.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.type import RequestType
from wechatpayv3.utils import build_authorization

from paylater_sdk.signing import (
    generate_certificate,
    generate_private_key,
    private_key_pem,
    public_key_pem,
)
from tests.reliability._procs import Server, issuer_command, wait_until

MCHID = "1900000001"
APPID = "wxd678efh567hg6787"
APIV3_KEY = "a12d3924fd499edac8a5efc0A1B2C3D4"
GATEWAY = "https://api.mch.weixin.qq.com"
CST = timezone(timedelta(hours=8))


class _Receiver:
    """The merchant's notify endpoint: records every callback, answers 204."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.calls.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/wxpay/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, event_type: str) -> list[tuple[dict[str, str], bytes]]:
        return [c for c in self.calls if json.loads(c[1])["event_type"] == event_type]


@contextlib.contextmanager
def _gateway_to(base: str) -> Iterator[None]:
    """Send what the client addresses to WeChat Pay's gateway to ``base`` instead."""
    original = requests.adapters.HTTPAdapter.send

    def send(self: Any, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        if request.url and request.url.startswith(GATEWAY):
            request.url = base + request.url[len(GATEWAY) :]
        return original(self, request, **kwargs)

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]


class Stack:
    def __init__(self, tmp: Path, mode: str) -> None:
        self.mode = mode
        self.db = f"sqlite:///{tmp / 'issuer.db'}"
        self.receiver = _Receiver()
        self.server = Server(
            f"wechat-{mode}",
            issuer_command("serve", "--database", self.db, "--port", "0", "--test-mode",
                           "--notify-schedule", "1,1,1"),
            tmp,
        )  # fmt: skip
        self.server.start()
        self.server.wait_ready()
        self.base = self.server.url
        self.key = generate_private_key("rsa")
        cert = generate_certificate(self.key, common_name=MCHID)
        pem = tmp / ("merchant_cert.pem" if mode == "certificate" else "merchant_pub.pem")
        if mode == "certificate":
            pem.write_bytes(cert.pem)
            key_args = ["--certificate", str(pem)]
            self.serial = cert.serial
        else:
            pem.write_bytes(public_key_pem(self.key))
            self.serial = "444F4864EA9B34415A1B2C3D4E5F60718293A4B5"
            key_args = ["--public-key", str(pem), "--serial", self.serial]
        self.cli("add-merchant", "--database", self.db, "--wechat", "--id", MCHID,
                 "--name", "小青商店", "--api-key", APIV3_KEY, "--key-mode", mode,
                 "--appid", APPID, "--notify-prefix", self.receiver.url.rsplit("/", 1)[0] + "/",
                 *key_args)  # fmt: skip
        platform = requests.get(f"{self.base}/v3/sandbox/test/platform", timeout=10).json()
        self.platform = platform
        self.wxpay = self.client()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(issuer_command(*args), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    def client(self, serial: str | None = None) -> WeChatPay:
        kwargs: dict[str, Any] = {}
        if self.mode == "public_key":
            kwargs = {
                "public_key": self.platform["public_key"],
                "public_key_id": self.platform["public_key_id"],
            }
        with _gateway_to(self.base):  # certificate mode downloads certificates right here
            wxpay = WeChatPay(
                wechatpay_type=WeChatPayType.JSAPI,
                mchid=MCHID,
                private_key=private_key_pem(self.key).decode(),
                cert_serial_no=serial or self.serial,
                appid=APPID,
                apiv3_key=APIV3_KEY,
                notify_url=self.receiver.url,
                **kwargs,
            )
        wxpay._core._gate_way = self.base  # the one setting pointed at the sandbox
        return wxpay

    def buyer(self, limit: int = 2_000_000) -> dict[str, Any]:
        made = requests.post(
            f"{self.base}/_test/buyers",
            json={"limit": {"value": limit, "currency": "CNY"}},
            timeout=10,
        )
        assert made.status_code == 201, made.text
        buyer: dict[str, Any] = made.json()
        payer = requests.post(
            f"{self.base}/v3/sandbox/test/payers", json={"phone": buyer["phone"]}, timeout=10
        ).json()
        buyer.update(openid=payer["openid"], phone_number_hash=payer["phone_number_hash"])
        return buyer

    def request(self, path: str, method: RequestType = RequestType.GET, data: Any = None) -> Any:
        code, text = self.wxpay._core.request(path, method=method, data=data)
        return code, json.loads(text) if text else None

    def close(self) -> None:
        self.server.stop()
        self.receiver.server.shutdown()
        self.receiver.server.server_close()


@pytest.fixture(scope="module", params=["certificate", "public_key"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    made = Stack(tmp_path_factory.mktemp(f"wechat-{request.param}"), request.param)
    yield made
    made.close()


def _subsidy(num: int, percent: int = 100) -> dict[str, Any]:
    plan = {"subsidy_installment_num": num, "subsidy_percent": percent}
    return {"subsidy_detail": [{"subsidy_plan": [plan]}]}


def _prepay(stack: Stack, out_trade_no: str, buyer: dict[str, Any], total: int = 60000) -> str:
    code, body = stack.request(
        "/v3/pay/transactions/jsapi",
        RequestType.POST,
        {
            "appid": APPID,
            "mchid": MCHID,
            "description": "分付测试商品",
            "out_trade_no": out_trade_no,
            "notify_url": stack.receiver.url,
            "amount": {"total": total, "currency": "CNY"},
            "payer": {"openid": buyer["openid"]},
            "subsidy_info": _subsidy(6),
        },
    )
    assert code == 200, body
    prepay_id: str = body["prepay_id"]
    return prepay_id


def test_the_whole_fenfu_flow(stack: Stack) -> None:
    wxpay = stack.wxpay
    buyer = stack.buyer()
    # exposure advice, on both paths, by openid and by phone hash
    code, body = stack.request(
        "/v3/pay/transactions/exposure", RequestType.POST,
        {"appid": APPID, "mchid": MCHID, "payer": {"openid": buyer["openid"]}},
    )  # fmt: skip
    assert code == 200
    assert body["fqf_exposure"] is True
    assert len(body["market_exposure_token"]) == 32
    code, body = stack.request(
        "/v3/pay/instal/exposure", RequestType.POST,
        {"mchid": MCHID, "payer": {"phone_number_hash": buyer["phone_number_hash"]}},
    )  # fmt: skip
    assert (code, body["fqf_exposure"]) == (200, True)
    frozen = stack.buyer(limit=0)
    code, body = stack.request(
        "/v3/pay/transactions/exposure", RequestType.POST,
        {"mchid": MCHID, "payer": {"openid": frozen["openid"]}},
    )  # fmt: skip
    assert (code, body["fqf_exposure"]) == (200, False)

    # pay() through the package (no subsidy), then a raw prepay with subsidy_info
    code, text = wxpay.pay(
        description="普通分付",
        out_trade_no=f"PLAIN{stack.mode}",
        amount={"total": 30000},
        payer={"openid": buyer["openid"]},
    )
    assert code == 200, text
    assert json.loads(text)["prepay_id"].startswith("wx")
    out_trade_no = f"A1001{stack.mode}"
    prepay_id = _prepay(stack, out_trade_no, buyer)
    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert code == 200
    assert json.loads(text)["trade_state"] == "NOTPAY"

    # the buyer pays 6 期免息 (test control)
    paid = requests.post(
        f"{stack.base}/v3/sandbox/test/pay",
        json={"prepay_id": prepay_id, "installment_num": 6},
        timeout=10,
    )
    assert paid.status_code == 200, paid.text
    _check_paid(stack, out_trade_no, buyer)

    # partial refund, its query and REFUND.SUCCESS
    code, text = wxpay.refund(
        out_refund_no=f"R1{stack.mode}",
        amount={"refund": 10000, "total": 60000, "currency": "CNY"},
        out_trade_no=out_trade_no,
        reason="部分退款",
    )
    assert code == 200, text
    refund = json.loads(text)
    assert refund["status"] == "SUCCESS"
    assert refund["amount"]["refund"] == 10000
    code, text = wxpay.query_refund(out_refund_no=f"R1{stack.mode}")
    assert code == 200
    assert json.loads(text)["refund_id"] == refund["refund_id"]
    wait_until("REFUND.SUCCESS", lambda: stack.receiver.events("REFUND.SUCCESS"), 30)
    headers, body_bytes = stack.receiver.events("REFUND.SUCCESS")[-1]
    note = wxpay.callback(headers, body_bytes)
    assert note is not None
    assert note["resource"]["refund_status"] == "SUCCESS"
    assert note["resource"]["amount"]["refund"] == 10000
    assert note["resource"]["out_refund_no"] == f"R1{stack.mode}"
    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert json.loads(text)["trade_state"] == "REFUND"

    # the trade bill of today (China time), its hash checked
    today = datetime.now(CST).date().isoformat()
    code, text = wxpay.trade_bill(bill_date=today)
    assert code == 200, text
    bill = json.loads(text)
    assert bill["hash_type"] == "SHA1"
    code, content = wxpay.download_bill(bill["download_url"])
    assert code == 200
    csv_bytes = gzip.decompress(content)
    assert hashlib.sha1(csv_bytes).hexdigest() == bill["hash_value"]
    lines = csv_bytes.decode("utf-8").splitlines()
    assert lines[0].startswith("交易时间,公众账号ID,商户号")
    ours = [line for line in lines if f"`{out_trade_no}," in line]
    assert len(ours) == 2  # the payment and the refund
    assert "`SUCCESS," in ours[0]
    assert "`600.00," in ours[0]
    assert "`REFUND," in ours[1]
    assert "`100.00," in ours[1]
    assert lines[-2].startswith("总交易单数")

    # close an unpaid order: 204, then querying it says CLOSED
    code, _ = wxpay.close(out_trade_no=f"PLAIN{stack.mode}")
    assert code == 204
    code, text = wxpay.query(out_trade_no=f"PLAIN{stack.mode}")
    assert json.loads(text)["trade_state"] == "CLOSED"
    stack.cli("check-ledger", "--database", stack.db)


def _check_paid(stack: Stack, out_trade_no: str, buyer: dict[str, Any]) -> None:
    wxpay = stack.wxpay
    wait_until("TRANSACTION.SUCCESS", lambda: stack.receiver.events("TRANSACTION.SUCCESS"), 30)
    headers, body_bytes = stack.receiver.events("TRANSACTION.SUCCESS")[-1]
    assert headers["Wechatpay-Serial"] == (
        stack.platform["public_key_id"]
        if stack.mode == "public_key"
        else stack.platform["certificates"][0]["serial_no"]
    )
    note = wxpay.callback(headers, body_bytes)  # verifies the signature, decrypts
    assert note is not None
    assert note["event_type"] == "TRANSACTION.SUCCESS"
    assert note["resource_type"] == "encrypt-resource"
    resource = note["resource"]
    assert resource["trade_state"] == "SUCCESS"
    assert resource["out_trade_no"] == out_trade_no
    assert resource["payer"]["openid"] == buyer["openid"]
    assert resource["amount"] == {
        "total": 60000, "payer_total": 60000, "currency": "CNY", "payer_currency": "CNY"
    }  # fmt: skip
    assert resource["paylater_installment"]["installment_num"] == 6
    assert resource["paylater_installment"]["free_of_interest"] is True
    assert wxpay.callback(headers, body_bytes.replace(b"SUCCESS", b"FAILED_")) is None
    code, text = wxpay.query(out_trade_no=out_trade_no)
    assert code == 200
    queried = json.loads(text)
    assert queried["trade_state"] == "SUCCESS"
    assert queried["transaction_id"] == resource["transaction_id"]
    code, text = wxpay.query(transaction_id=resource["transaction_id"])
    assert code == 200
    assert json.loads(text)["out_trade_no"] == out_trade_no


# --- bad input gets v3's error shape -----------------------------------------------------


def _error(code: int, text: str | bytes) -> tuple[int, str]:
    body = json.loads(text)
    assert set(body) <= {"code", "message", "detail"}
    assert body["message"]
    return code, body["code"]


def test_unsigned_and_wrongly_signed_requests_are_sign_errors(stack: Stack) -> None:
    url = f"{stack.base}/v3/pay/transactions/out-trade-no/X123456?mchid={MCHID}"
    answer = requests.get(url, timeout=10)
    assert _error(answer.status_code, answer.text) == (401, "SIGN_ERROR")
    assert answer.headers["Request-ID"]
    path = f"/v3/pay/transactions/out-trade-no/X123456?mchid={MCHID}"
    key = stack.wxpay._core._private_key
    auth = build_authorization(path, "GET", MCHID, "0123456789ABCDEF01234567", key)
    wrong = requests.get(stack.base + path, headers={"Authorization": auth}, timeout=10)
    assert _error(wrong.status_code, wrong.text) == (401, "SIGN_ERROR")
    assert "0123456789ABCDEF01234567" in wrong.json()["message"]
    other = generate_private_key("rsa")  # the right serial, another key
    auth = build_authorization(path, "GET", MCHID, stack.serial, other)
    forged = requests.get(stack.base + path, headers={"Authorization": auth}, timeout=10)
    assert _error(forged.status_code, forged.text) == (401, "SIGN_ERROR")
    if stack.mode == "certificate":  # the client cannot even fetch the certificates
        with pytest.raises(Exception, match="No wechatpay platform certificate"):
            stack.client(serial="0123456789ABCDEF01234567")


def test_a_replayed_request_is_refused(stack: Stack) -> None:
    path = f"/v3/pay/transactions/out-trade-no/NOSUCH1?mchid={MCHID}"
    auth = build_authorization(path, "GET", MCHID, stack.serial, stack.wxpay._core._private_key)
    first = requests.get(stack.base + path, headers={"Authorization": auth}, timeout=10)
    assert _error(first.status_code, first.text) == (404, "ORDER_NOT_EXIST")
    again = requests.get(stack.base + path, headers={"Authorization": auth}, timeout=10)
    assert _error(again.status_code, again.text) == (401, "SIGN_ERROR")
    assert "nonce" in again.json()["message"].lower()


def test_bad_amount_unknown_order_and_bad_subsidy_plan(stack: Stack) -> None:
    buyer = stack.buyer()
    code, text = stack.wxpay.pay(
        description="x",
        out_trade_no="BADAMT1",
        amount={"total": 0},
        payer={"openid": buyer["openid"]},
    )
    assert _error(code, text) == (400, "PARAM_ERROR")
    assert json.loads(text)["detail"]["field"] == "amount.total"
    code, text = stack.wxpay.query(out_trade_no="NOPE0001")
    assert _error(code, text) == (404, "ORDER_NOT_EXIST")
    code, text = stack.wxpay.query_refund(out_refund_no="NOPE0001")
    assert _error(code, text) == (404, "RESOURCE_NOT_EXISTS")
    for plan in ({"subsidy_installment_num": 5, "subsidy_percent": 100},
                 {"subsidy_installment_num": 6, "subsidy_percent": 50}):  # fmt: skip
        code, text = stack.wxpay._core.request(
            "/v3/pay/transactions/jsapi",
            method=RequestType.POST,
            data={
                "appid": APPID, "mchid": MCHID, "description": "x", "out_trade_no": "BADSUB1",
                "notify_url": stack.receiver.url, "amount": {"total": 60000},
                "payer": {"openid": buyer["openid"]},
                "subsidy_info": {"subsidy_detail": [{"subsidy_plan": [plan]}]},
            },
        )  # fmt: skip
        assert _error(code, text) == (400, "PARAM_ERROR")


def test_refund_beyond_the_paid_amount(stack: Stack) -> None:
    buyer = stack.buyer()
    prepay_id = _prepay(stack, f"RB{stack.mode}01", buyer, total=20000)
    paid = requests.post(
        f"{stack.base}/v3/sandbox/test/pay",
        json={"prepay_id": prepay_id, "installment_num": 3},
        timeout=10,
    )
    assert paid.status_code == 200, paid.text
    code, text = stack.wxpay.refund(
        out_refund_no=f"RB{stack.mode}R1",
        amount={"refund": 15000, "total": 20000, "currency": "CNY"},
        out_trade_no=f"RB{stack.mode}01",
    )
    assert code == 200, text
    code, text = stack.wxpay.refund(
        out_refund_no=f"RB{stack.mode}R2",
        amount={"refund": 5001, "total": 20000, "currency": "CNY"},
        out_trade_no=f"RB{stack.mode}01",
    )
    assert _error(code, text) == (400, "INVALID_REQUEST")
    code, text = stack.wxpay.refund(
        out_refund_no=f"RB{stack.mode}R3",
        amount={"refund": 20001, "total": 20000, "currency": "CNY"},
        out_trade_no=f"RB{stack.mode}01",
    )
    assert _error(code, text) == (400, "PARAM_ERROR")
    stack.cli("check-ledger", "--database", stack.db)
