"""``paylater issuer add-merchant --wechat``: register a WeChat Pay v3 merchant."""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from pathlib import Path

import click

from ..errors import PayLaterError
from ..issuer import Issuer
from ._common import fail

_ALPHABET = string.ascii_letters + string.digits


def add_wechat_merchant(
    issuer: Issuer,
    mchid: str,
    *,
    name: str,
    public_keys: Sequence[Path],
    certificate: Path | None,
    serial: str | None,
    apiv3_key: str | None,
    key_mode: str,
    appid: str | None,
    notify_prefixes: Sequence[str],
) -> None:
    """Register (or update) ``mchid`` for ``/v3`` and print its serial; a generated APIv3
    key is printed once."""
    from ..issuer.domain.wechat import WeChatDesk

    if (certificate is None) == (len(public_keys) != 1):
        fail("--wechat takes the merchant's --certificate or exactly one --public-key")
    if certificate is not None and serial:
        fail("--serial goes with --public-key: a certificate carries its own serial")
    generated = apiv3_key is None
    key = apiv3_key or "".join(secrets.choice(_ALPHABET) for _ in range(32))
    pem = (certificate or public_keys[0]).read_bytes()
    try:
        got = WeChatDesk(issuer).register_merchant(
            mchid,
            name=name,
            apiv3_key=key,
            notify_prefixes=list(notify_prefixes),
            certificate=pem if certificate is not None else None,
            public_key=pem if certificate is None else None,
            serial=serial,
            key_mode=key_mode,
            appid=appid,
        )
    except (PayLaterError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"WeChat Pay v3 merchant {mchid}: serial_no {got}, key mode {key_mode}")
    if generated:
        click.echo(f"apiv3_key: {key}")
        click.echo("(shown once: give it to the merchant over a safe channel)", err=True)
    if not notify_prefixes:
        click.echo(
            f"Warning: no --notify-prefix: every prepay of {mchid} is refused until one is given",
            err=True,
        )
