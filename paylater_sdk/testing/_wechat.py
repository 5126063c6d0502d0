"""``MockIssuer(wechat=True)``: a merchant's existing WeChat Pay v3 tests, run offline.

:class:`WeChatSandbox` registers a v3 merchant on the mock issuer (RSA key, APIv3 key, a
key mode) and routes ``https://api.mch.weixin.qq.com`` into the in-process issuer through
the same ``responses`` mock, so an unmodified WeChat Pay SDK (``wechatpayv3``) pointed at
its usual gateway talks to the mock: certificates, prepay, queries, refunds, bills, and
callbacks sealed the v3 way (kept in ``MockIssuer.notifications``).
"""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import responses

from ..issuer.domain.wechat import WeChatDesk, phone_hash
from ..issuer.web.wechat.api import EXTENSION
from ..signing import generate_certificate, generate_private_key, private_key_pem

if TYPE_CHECKING:
    from ..issuer import TestBuyer
    from ._mock import MockIssuer

#: WeChat Pay's API gateway, as every v3 SDK has it built in.
GATEWAY = "https://api.mch.weixin.qq.com"
_ALPHABET = string.ascii_letters + string.digits


class WeChatSandbox:
    """The v3 side of a :class:`MockIssuer`: one v3 merchant and the gateway route.

    ``key_mode`` is how the merchant's SDK verifies answers: ``"public_key"`` (give the SDK
    :attr:`platform_public_key` and :attr:`platform_public_key_id`) or ``"certificate"``
    (the SDK downloads the platform certificates from ``/v3/certificates`` itself).
    """

    def __init__(
        self,
        mock: MockIssuer,
        *,
        mchid: str = "1900000001",
        appid: str = "wx8888888888888888",
        key_mode: str = "public_key",
        notify_prefixes: tuple[str, ...] = ("https://", "http://"),
    ) -> None:
        self.mock = mock
        self.mchid = mchid
        self.appid = appid
        self.key_mode = key_mode
        self.private_key = generate_private_key("rsa")
        self.certificate = generate_certificate(self.private_key, common_name=mchid)
        self.apiv3_key = "".join(secrets.choice(_ALPHABET) for _ in range(32))
        desk = self.desk
        self.serial = desk.register_merchant(
            mchid,
            name=mchid,
            apiv3_key=self.apiv3_key,
            notify_prefixes=list(notify_prefixes),
            certificate=self.certificate.pem,
            key_mode=key_mode,
            appid=appid,
        )
        self.platform_public_key_id, self.platform_public_key = desk.platform.public_key()

    @property
    def desk(self) -> WeChatDesk:
        found: WeChatDesk = self.mock.app.extensions[EXTENSION]
        return found

    def __repr__(self) -> str:
        return f"WeChatSandbox(mchid={self.mchid!r}, key_mode={self.key_mode!r})"

    # --- what the merchant's SDK is configured with -------------------------------------

    def sdk_settings(self) -> dict[str, Any]:
        """Keyword arguments for ``wechatpayv3.WeChatPay`` (add ``wechatpay_type`` and
        ``notify_url``): the merchant's key, serial, APIv3 key and, in public-key mode, the
        platform public key and its id."""
        settings: dict[str, Any] = {
            "mchid": self.mchid,
            "private_key": private_key_pem(self.private_key).decode(),
            "cert_serial_no": self.serial,
            "appid": self.appid,
            "apiv3_key": self.apiv3_key,
        }
        if self.key_mode == "public_key":
            settings["public_key"] = self.platform_public_key
            settings["public_key_id"] = self.platform_public_key_id
        return settings

    # --- the buyer -----------------------------------------------------------------------

    def openid(self, buyer: TestBuyer | str) -> str:
        """The openid of a test buyer (a :class:`TestBuyer` or its id)."""
        buyer_id = buyer if isinstance(buyer, str) else buyer.id
        return self.desk.openid(buyer_id)

    def phone_number_hash(self, buyer: TestBuyer) -> str:
        """The SM3 phone hash the exposure API takes."""
        return phone_hash(buyer.phone)

    def pay(self, prepay_id: str, installment_num: int = 6) -> dict[str, Any]:
        """What the buyer does after ``wx.requestPayment``: pay with 分付 in
        ``installment_num`` installments. Returns the v3 transaction; the TRANSACTION.SUCCESS
        callback is delivered by :meth:`MockIssuer.deliver_pending`."""
        return self.desk.payments.pay(prepay_id, installment_num)

    def callbacks(self, event_type: str | None = None) -> list[Any]:
        """The v3 callbacks delivered so far (``MockIssuer.notifications`` entries)."""
        found = []
        for note in self.mock.notifications:
            try:
                kind = json.loads(note.body)["event_type"]
            except (ValueError, KeyError, TypeError):
                continue
            if kind in ("TRANSACTION.SUCCESS", "REFUND.SUCCESS") and (
                event_type is None or kind == event_type
            ):
                found.append(note)
        return found

    # --- the route -----------------------------------------------------------------------

    def route(self, mock: responses.RequestsMock) -> None:
        """Send everything addressed to WeChat Pay's gateway into the mock issuer."""
        pattern = re.compile(re.escape(GATEWAY) + r"(/.*)?$")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add_callback(method, pattern, callback=self._route)

    def _route(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url or "")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        answer = self.mock.app.test_client().open(
            target,
            method=(request.method or "GET").upper(),
            data=body,
            headers=headers,
            base_url=GATEWAY,
            environ_overrides={"REQUEST_URI": target},
        )
        out = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return answer.status_code, out, answer.get_data()
