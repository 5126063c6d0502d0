"""What every scenario shares: merchants, starting issuers, the ledger check, secrets.

``SECRETS`` collects every secret the session creates (merchant API keys and private
keys, the issuer's session secret and signing keys, buyer tokens) so that the last check
of the suite can prove that none of them reached a log.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from paylater_sdk.signing import generate_private_key, private_key_pem, public_key_pem

from ._procs import Server, issuer_command

__all__ = ["SECRETS", "Merchant", "check_ledger", "new_merchant", "remember_issuer_keys"]

#: Every secret value of the session (see the module docstring).
SECRETS: set[str] = set()


@attrs.frozen
class Merchant:
    id: str
    key: Any
    api_key: str

    def config(self, notify: Sequence[str], returns: Sequence[str]) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": f"Shop {self.id}",
            "public_keys": [public_key_pem(self.key).decode()],
            "api_key": self.api_key,
            "notify_prefixes": list(notify),
            "return_prefixes": list(returns),
        }


def _pem_body(pem: bytes) -> str:
    """The base64 lines of a PEM, the part that must never be logged."""
    return "".join(line for line in pem.decode().splitlines() if "-----" not in line)


def new_merchant(merchant_id: str) -> Merchant:
    key = generate_private_key("ed25519")
    merchant = Merchant(merchant_id, key, secrets.token_hex(16))
    SECRETS.add(merchant.api_key)
    SECRETS.add(_pem_body(private_key_pem(key)))
    return merchant


def merchants_file(path: Path, configs: Sequence[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(list(configs)), encoding="utf-8")
    return path


def issuer_server(
    name: str,
    logdir: Path,
    database_url: str,
    merchants: Path,
    *,
    extra: Sequence[str] = (),
    secret_key: str | None = None,
) -> Server:
    """An issuer in test mode on a port of its choosing, with a short retry schedule."""
    command = issuer_command(
        "serve",
        "--test-mode",
        "--port",
        "0",
        "--database",
        database_url,
        "--merchants",
        str(merchants),
        "--notify-schedule",
        "1,1,1,2",
        *extra,
    )
    env = {"PAYLATER_SECRET_KEY": secret_key} if secret_key else {}
    return Server(name, command, logdir, env=env)


def remember_issuer_keys(database_url: str) -> None:
    """Add the issuer's signing keys (stored in its database) to SECRETS."""
    for (pem,) in rows(database_url, "SELECT private_pem FROM issuer_keys"):
        SECRETS.add(_pem_body(pem.encode()))


def check_ledger(database_url: str) -> None:
    """``paylater issuer check-ledger``: exit 0 and the OK line, or the test fails."""
    done = subprocess.run(
        issuer_command("check-ledger", "--database", database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"check-ledger failed:\n{done.stdout}\n{done.stderr}"
    assert "ledger OK" in done.stdout


def scalar(database_url: str, query: str, **params: Any) -> Any:
    """One value from the issuer's database (the test owns it)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()
    finally:
        engine.dispose()


def rows(database_url: str, query: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))
    finally:
        engine.dispose()
