"""The WeChat Pay v3 semantics of the mock issuer, without HTTP (the face: ``web/wechat``).

:class:`WeChatDesk` is what the v3 blueprint, the CLI and the testing kit call. It adds
nothing of its own to money: payments, refunds, limits, plans, notifications and faults
are the shared order book's and ledger's (:mod:`.payments`, :mod:`.refunds`), so one
ledger serves both faces and its check covers both.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ....errors import NotFoundError
from ....money import Money
from ...storage.schema import buyers, reading
from ...storage.wechat_keystore import KEY_MODES, PlatformKeys, platform_keys
from .keys import (
    WeChatMerchant,
    openid_for,
    phone_hash,
    register_wechat_merchant,
    resolve_payer,
    wechat_merchant,
)
from .payments import Payments, v3_offers
from .refunds import BILL_HEADER, BILL_SUMMARY_HEADER, Refunds

if TYPE_CHECKING:
    from ..issuer import Issuer

__all__ = [
    "BILL_HEADER",
    "BILL_SUMMARY_HEADER",
    "KEY_MODES",
    "PlatformKeys",
    "WeChatDesk",
    "WeChatMerchant",
    "openid_for",
    "phone_hash",
    "register_wechat_merchant",
    "v3_offers",
]

#: The amount an exposure question is asked for when the merchant names none (100 元).
_DEFAULT_EXPOSURE_AMOUNT = 10_000


class WeChatDesk:
    """One issuer's v3 face: merchants, platform keys, payments, refunds, bills."""

    def __init__(self, issuer: Issuer, *, compat: bool = False, compat_mode: str = "public_key"):
        self.issuer = issuer
        self.compat = compat
        self.compat_mode = compat_mode
        self.platform = platform_keys(issuer.engine)
        self.payments = Payments(issuer)
        self.refunds = Refunds(issuer)

    def merchant(self, mchid: str) -> WeChatMerchant | None:
        """The v3 identity of ``mchid``, or None when it may not use ``/v3``."""
        return wechat_merchant(
            self.issuer.engine, mchid, compat=self.compat, compat_mode=self.compat_mode
        )

    def register_merchant(self, mchid: str, **kwargs: Any) -> str:
        """See :func:`.keys.register_wechat_merchant`; the cached keys and prefixes are
        dropped."""
        serial = register_wechat_merchant(self.issuer.engine, mchid, **kwargs)
        self.issuer.merchants.forget(mchid)
        return serial

    def openid(self, buyer_id: str) -> str:
        """The openid of a test buyer (registered for lookups on first use)."""
        resolve_payer(self.issuer.engine, self.issuer.phones, openid=openid_for(buyer_id))
        return openid_for(buyer_id)

    def payer(
        self, *, openid: str | None = None, phone_number_hash: str | None = None
    ) -> str | None:
        return resolve_payer(
            self.issuer.engine,
            self.issuer.phones,
            openid=openid,
            phone_number_hash=phone_number_hash,
        )

    def exposure(
        self,
        mchid: str,
        *,
        openid: str | None,
        phone_number_hash: str | None,
        total: int | None,
    ) -> dict[str, Any]:
        """Whether to show 分付 to this payer: the coarse eligibility of the ``/v1`` face
        (same rate limits, never the limit or the balance); unknown payers get False."""
        buyer_id = self.payer(openid=openid, phone_number_hash=phone_number_hash)
        eligible = False
        if buyer_id is not None:
            with reading(self.issuer.engine) as conn:
                token = conn.execute(
                    sa.select(buyers.c.buyer_token).where(buyers.c.id == buyer_id)
                ).scalar_one()
            amount = Money.from_minor(total or _DEFAULT_EXPOSURE_AMOUNT, "CNY")
            try:
                eligible = bool(
                    self.issuer.eligibility(token, amount, merchant_id=mchid)["eligible"]
                )
            except NotFoundError:
                eligible = False
        secret = self.issuer.session_secret.encode()
        subject = f"{mchid}:{buyer_id or openid or phone_number_hash}:{int(eligible)}"
        token_value = hmac.new(secret, subject.encode(), hashlib.sha256).hexdigest()[:32]
        return {"fqf_exposure": eligible, "market_exposure_token": token_value}
