"""The WeChat Pay v3 face of the mock issuer: ``/v3/...`` (see docs/wechat.md).

:func:`install` registers the v3 API, the sandbox payment page and (test mode) the v3
test controls, and one app-wide hook for ``/v3``: v3 error bodies for everything
(Werkzeug's HTML pages included), ``Request-ID``, and the platform signature
(``Wechatpay-Serial/-Signature/-Timestamp/-Nonce/-Signature-Type``) on every answer, errors
too, in the key mode of the merchant (certificate serial or ``PUB_KEY_ID_...``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from ....errors import ConfigurationError
from ...domain.wechat import KEY_MODES, WeChatDesk
from .._context import issuer_of
from . import api, sandbox

__all__ = ["install"]

_SKIP = ("/v3/sandbox/",)
_HTTP_ERRORS = {404: "RESOURCE_NOT_EXISTS", 405: "INVALID_REQUEST", 413: "PARAM_ERROR"}


def install(app: Flask, config: Mapping[str, Any]) -> WeChatDesk:
    """Add the v3 face to an issuer app. Config: ``WECHAT_COMPAT`` (every merchant may use
    ``/v3``), ``WECHAT_KEY_MODE`` (the key mode of such merchants: ``public_key`` or
    ``certificate``) and ``WECHAT_MERCHANTS`` (v3 merchants registered at start-up)."""
    mode = config.get("WECHAT_KEY_MODE", "public_key")
    if mode not in KEY_MODES:
        raise ConfigurationError(f"WECHAT_KEY_MODE must be one of {', '.join(KEY_MODES)}")
    desk = WeChatDesk(issuer_of(app), compat=bool(config.get("WECHAT_COMPAT")), compat_mode=mode)
    for entry in config.get("WECHAT_MERCHANTS") or ():
        _register(desk, entry)
    app.extensions[api.EXTENSION] = desk
    app.register_blueprint(api.blueprint)
    if issuer_of(app).config.test_mode:
        # the buyer's side without a WeChat app: test buyers only, like /_test
        app.register_blueprint(sandbox.blueprint)
        app.register_blueprint(sandbox.testctl)
    app.after_request(_finish)
    return desk


def _register(desk: WeChatDesk, entry: Any) -> None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("mchid"), str):
        raise ConfigurationError("each WECHAT_MERCHANTS entry is a mapping with a 'mchid'")
    known = {
        "mchid", "name", "apiv3_key", "certificate", "public_key", "serial", "key_mode",
        "appid", "notify_prefixes",
    }  # fmt: skip
    unknown = set(entry) - known
    if unknown:
        raise ConfigurationError(f"unknown WECHAT_MERCHANTS keys: {sorted(unknown)}")
    desk.register_merchant(
        entry["mchid"],
        name=entry.get("name", entry["mchid"]),
        apiv3_key=entry["apiv3_key"],
        notify_prefixes=list(entry.get("notify_prefixes", ())),
        certificate=entry.get("certificate"),
        public_key=entry.get("public_key"),
        serial=entry.get("serial"),
        key_mode=entry.get("key_mode", "public_key"),
        appid=entry.get("appid"),
    )


def _finish(response: Response) -> Response:
    path = request.path
    if not path.startswith("/v3/") or path.startswith(_SKIP):
        return response
    request_id = g.get("request_id")
    if request_id:
        response.headers["Request-ID"] = request_id
    if g.pop("wechat_unsigned", False):
        return response
    if response.status_code >= 400 and response.mimetype != "application/json":
        code = _HTTP_ERRORS.get(response.status_code, "SYSTEM_ERROR")
        message = {404: "资源不存在 (no such endpoint)", 405: "请求方法不允许"}.get(
            response.status_code, "请求错误"
        )
        status = response.status_code
        response = api.v3_error(status if status < 500 else 500, code, message)
        if request_id:
            response.headers["Request-ID"] = request_id
    delay = g.pop("delay_response", None)
    if delay:
        time.sleep(delay)
    merchant = g.get("wechat_merchant")
    desk: WeChatDesk = api.desk()
    mode = merchant.key_mode if merchant is not None else desk.compat_mode
    for name, value in desk.platform.signer(mode).headers(response.get_data()).items():
        response.headers[name] = value
    return response
