"""``paylater issuer add-merchant`` and ``paylater issuer rotate-key``.

Kept apart from :mod:`.issuer` (which registers them) so that each module stays short.
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

import click

from ..errors import PayLaterError
from ..signing import API_KEY_BYTES
from ._common import fail
from ._issuer_app import database_errors, existing_database_option, http_prefixes, offline_app

_API_KEY_ALPHABET = string.ascii_letters + string.digits


@click.command("add-merchant")
@existing_database_option
@click.option("--id", "merchant_id", required=True, help="The merchant id (mchid).")
@click.option("--name", required=True, help="Shown to buyers on the consent page.")
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM public key the merchant signs requests with (repeatable; keys are only added).",
)
@click.option(
    "--api-key",
    envvar="PAYLATER_MERCHANT_API_KEY",
    metavar="TEXT",
    help="The 32-byte API key (default for a new merchant: generate one and print it once).  "
    "[env: PAYLATER_MERCHANT_API_KEY]",
)
@click.option(
    "--rotate-api-key",
    is_flag=True,
    help="Replace an existing merchant's API key (with --api-key, or a generated one).",
)
@click.option(
    "--notify-prefix",
    "notify_prefixes",
    multiple=True,
    help="Allowed notify_url prefix (repeatable; given ones replace the registered ones).",
)
@click.option(
    "--return-prefix",
    "return_prefixes",
    multiple=True,
    help="Allowed return_url prefix (repeatable; given ones replace the registered ones).",
)
@click.option(
    "--wechat",
    is_flag=True,
    help="Register a WeChat Pay v3 merchant (the /v3 face): --id is the mchid, the key is "
    "--certificate or --public-key (+ --serial), the APIv3 key is --api-key.",
)
@click.option(
    "--certificate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="--wechat: the merchant's API certificate (PEM); its serial is the certificate's.",
)
@click.option("--serial", help="--wechat with --public-key: the certificate serial it sends.")
@click.option(
    "--key-mode",
    type=click.Choice(["public_key", "certificate"]),
    default="public_key",
    show_default=True,
    help="--wechat: how the merchant verifies answers: platform public key or certificates.",
)
@click.option("--appid", help="--wechat: the merchant's appid (shown in trade bills).")
def add_merchant(
    database_url: str | None,
    merchant_id: str,
    name: str,
    public_keys: tuple[Path, ...],
    api_key: str | None,
    rotate_api_key: bool,
    notify_prefixes: tuple[str, ...],
    return_prefixes: tuple[str, ...],
    wechat: bool,
    certificate: Path | None,
    serial: str | None,
    key_mode: str,
    appid: str | None,
) -> None:
    """Register a merchant, or update one and print what changed.

    An existing merchant keeps its API key unless --rotate-api-key is given, and keeps its
    URL prefixes unless new ones are given.
    """
    from ..issuer import get_issuer

    if wechat:
        _add_wechat(
            database_url,
            merchant_id,
            name,
            public_keys,
            api_key=api_key,
            notify_prefixes=notify_prefixes,
            certificate=certificate,
            serial=serial,
            key_mode=key_mode,
            appid=appid,
        )
        return
    if not public_keys:
        fail("--public-key is required (or --wechat with --certificate)")
    if certificate or serial or appid:
        fail("--certificate, --serial and --appid go with --wechat")
    merchant_id, name = _checked_merchant_id(merchant_id), _checked_name(name)
    _check_api_key(api_key)
    notify = http_prefixes("--notify-prefix", notify_prefixes)
    returns = http_prefixes("--return-prefix", return_prefixes)
    pems = [_read_public_key(path) for path in public_keys]
    app = offline_app(database_url)
    issuer = get_issuer(app)
    with database_errors(database_url):
        before = _merchant_state(issuer, merchant_id)
    new_key = _api_key_to_store(before, api_key, rotate_api_key)
    after: dict[str, Any] = {
        "name": name,
        "api_key": new_key or (before["api_key"] if before else ""),
        "notify_prefixes": notify or (before["notify_prefixes"] if before else []),
        "return_prefixes": returns or (before["return_prefixes"] if before else []),
    }
    try:
        with database_errors(database_url):
            issuer.add_merchant(merchant_id, public_keys=pems, **after)
            serials = _merchant_state(issuer, merchant_id)
    except (PayLaterError, ValueError) as exc:
        fail(str(exc))
    assert serials is not None
    _report_merchant(merchant_id, before, after, serials["serials"])
    _announce(merchant_id, new_key if api_key is None else None, after)


def _announce(merchant_id: str, generated_key: str | None, after: dict[str, Any]) -> None:
    """Show a generated API key once, and warn of a merchant no checkout can reach yet."""
    if generated_key is not None:
        click.echo(f"api_key: {generated_key}")
        click.echo("(shown once: give it to the merchant over a safe channel)", err=True)
    if not after["notify_prefixes"]:
        click.echo(
            f"Warning: no --notify-prefix: the issuer refuses every checkout of {merchant_id} "
            "(URL_NOT_ALLOWED) until one is registered",
            err=True,
        )


def _add_wechat(
    database_url: str | None,
    merchant_id: str,
    name: str,
    public_keys: tuple[Path, ...],
    *,
    api_key: str | None,
    notify_prefixes: tuple[str, ...],
    certificate: Path | None,
    serial: str | None,
    key_mode: str,
    appid: str | None,
) -> None:
    """``add-merchant --wechat``: a merchant of the WeChat Pay v3 face (its own key rules)."""
    from ..issuer import get_issuer
    from ._wechat import add_wechat_merchant

    merchant_id = _checked_merchant_id(merchant_id)
    app = offline_app(database_url)
    add_wechat_merchant(
        get_issuer(app),
        merchant_id,
        name=_checked_name(name),
        public_keys=public_keys,
        certificate=certificate,
        serial=serial,
        apiv3_key=api_key,
        key_mode=key_mode,
        appid=appid,
        notify_prefixes=http_prefixes("--notify-prefix", notify_prefixes),
    )


def _check_api_key(api_key: str | None) -> None:
    from ..issuer.config import is_api_key

    if api_key is not None and not is_api_key(api_key):
        fail("--api-key must be exactly 32 bytes (WeChat Pay v3 style APIv3 key)")


def _checked_merchant_id(value: str) -> str:
    """The client's rule for the id that travels in the Authorization header."""
    from ..client._config import check_header_value

    try:
        return check_header_value("--id", value)
    except PayLaterError as exc:
        fail(str(exc))


def _checked_name(value: str) -> str:
    """A name buyers read on the consent page: one line of 1..64 printable characters."""
    name = value.strip()
    if not name or len(name) > 64 or not name.isprintable():
        fail("--name must be 1 to 64 printable characters on one line, e.g. '小青商店'")
    return name


def _read_public_key(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--public-key {path}: cannot read it ({type(exc).__name__})")


def _merchant_state(issuer: Any, merchant_id: str) -> dict[str, Any] | None:
    """What add-merchant may change, as stored now (None: no such merchant)."""
    import sqlalchemy as sa

    from ..issuer.storage.schema import merchant_keys

    row = issuer.merchant(merchant_id)
    if row is None:
        return None
    with issuer.engine.connect() as conn:
        serials = conn.execute(
            sa.select(merchant_keys.c.serial).where(merchant_keys.c.merchant_id == merchant_id)
        ).scalars()
        known = sorted(serials)
    return {
        "name": row.name,
        "api_key": row.api_key,
        "notify_prefixes": json.loads(row.notify_prefixes),
        "return_prefixes": json.loads(row.return_prefixes),
        "serials": known,
    }


def _api_key_to_store(before: dict[str, Any] | None, given: str | None, rotate: bool) -> str | None:
    """The new API key, or None to keep the stored one; never a silent replacement."""
    if before is None or rotate:
        return given or "".join(secrets.choice(_API_KEY_ALPHABET) for _ in range(API_KEY_BYTES))
    if given is not None and given != before["api_key"]:
        fail(
            "--api-key differs from the API key the merchant already has; pass --rotate-api-key "
            "to replace it (the merchant's requests with the old key then fail)"
        )
    return None


def _report_merchant(
    merchant_id: str, before: dict[str, Any] | None, after: dict[str, Any], serials: list[str]
) -> None:
    if before is None:
        click.echo(f"merchant {merchant_id} registered (keys {', '.join(serials)})")
        return
    changes = [
        f"{field.replace('_', ' ')}: {before[field]!r} -> {after[field]!r}"
        for field in ("name", "notify_prefixes", "return_prefixes")
        if before[field] != after[field]
    ]
    if before["api_key"] != after["api_key"]:
        changes.append("api key: replaced")
    added = [serial for serial in serials if serial not in before["serials"]]
    if added:
        changes.append(f"public keys added: {', '.join(added)}")
    summary = "; ".join(changes) if changes else "nothing changed"
    click.echo(f"merchant {merchant_id} updated: {summary}")


@click.command("rotate-key")
@existing_database_option
@click.option(
    "--alg",
    type=click.Choice(["ed25519", "rsa"]),
    default="ed25519",
    show_default=True,
    help="Algorithm of the new signing key.",
)
def rotate_key(database_url: str | None, alg: str) -> None:
    """Make a new signing key current (the old one stays valid 24 h)."""
    from ..issuer import get_issuer

    app = offline_app(database_url)
    try:
        with database_errors(database_url):
            serial = get_issuer(app).rotate_signing_key(alg)
    except (PayLaterError, ValueError) as exc:
        fail(str(exc))
    click.echo(serial)
