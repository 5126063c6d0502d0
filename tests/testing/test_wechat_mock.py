"""``MockIssuer(wechat=True)``: an unmodified wechatpayv3 client on its usual gateway,
answered by the in-process mock (no network, no server), in both key modes."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType

from paylater_sdk.testing import MockIssuer


@pytest.mark.parametrize("key_mode", ["public_key", "certificate"])
def test_a_merchants_wechat_pay_test_runs_offline(key_mode: str) -> None:
    with MockIssuer(wechat={"key_mode": key_mode}) as mock:
        sandbox = mock.wechat
        wxpay = WeChatPay(
            wechatpay_type=WeChatPayType.JSAPI,
            notify_url="https://shop.example/wxpay/notify",
            **sandbox.sdk_settings(),
        )
        buyer = mock.create_buyer(limit="20000.00")
        code, text = wxpay.pay(
            description="分付测试",
            out_trade_no="KIT000001",
            amount={"total": 120000},
            payer={"openid": sandbox.openid(buyer)},
        )
        assert code == 200, text
        paid = sandbox.pay(json.loads(text)["prepay_id"], installment_num=12)
        assert paid["trade_state"] == "SUCCESS"
        mock.deliver_pending()
        [note] = sandbox.callbacks("TRANSACTION.SUCCESS")
        opened = wxpay.callback(note.headers, note.body)
        assert opened is not None
        assert opened["resource"]["amount"]["total"] == 120000
        assert opened["resource"]["paylater_installment"]["installment_num"] == 12
        code, text = wxpay.refund(
            out_refund_no="KITR1",
            amount={"refund": 20000, "total": 120000, "currency": "CNY"},
            out_trade_no="KIT000001",
        )
        assert code == 200, text
        mock.deliver_pending()
        [refund_note] = sandbox.callbacks("REFUND.SUCCESS")
        assert (
            wxpay.callback(refund_note.headers, refund_note.body)["resource"]["amount"]["refund"]
            == 20000
        )
        today = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
        code, text = wxpay.trade_bill(bill_date=today)
        bill = json.loads(text)
        assert bill["download_url"].startswith("https://api.mch.weixin.qq.com/v3/billdownload/")
        code, content = wxpay.download_bill(bill["download_url"])
        assert hashlib.sha1(gzip.decompress(content)).hexdigest() == bill["hash_value"]
        mock.assert_ledger_ok()
        assert mock.balances(buyer)["outstanding"].minor == 100000
