"""``paylater issuer add-merchant`` on an existing merchant: nothing is replaced silently."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from paylater_sdk.cli import main
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.signing import generate_private_key, public_key_pem, serial_for


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'issuer.db'}"
    create_app({"DATABASE_URL": url, "TEST_MODE": True})
    return url


def _key_file(folder: Path, name: str) -> tuple[Path, str]:
    key = generate_private_key("ed25519")
    path = folder / name
    path.write_bytes(public_key_pem(key))
    return path, serial_for(key)


def _add(db_url: str, key: Path, *extra: str, env: dict[str, str] | None = None) -> Result:
    args = ["issuer", "add-merchant", "--database", db_url, "--id", "m9", "--name", "九号店",
            "--public-key", str(key), *extra]  # fmt: skip
    return CliRunner().invoke(main, args, env=env or {"PAYLATER_MERCHANT_API_KEY": ""})


def _stored(db_url: str) -> Any:
    return get_issuer(create_app({"DATABASE_URL": db_url, "SECRET_KEY": "k" * 32})).merchant("m9")


def _printed_key(result: Result) -> str:
    match = re.search(r"^api_key: ([A-Za-z0-9]{32})$", result.stdout, re.MULTILINE)
    assert match, result.output
    return match.group(1)


def test_a_second_run_keeps_the_api_key_and_says_nothing_changed(
    db_url: str, tmp_path: Path
) -> None:
    key, serial = _key_file(tmp_path, "k.pem")
    first = _add(db_url, key, "--notify-prefix", "https://shop.example/")
    assert first.exit_code == 0, first.output
    assert f"merchant m9 registered (keys {serial})" in first.stdout
    api_key = _printed_key(first)
    again = _add(db_url, key)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "merchant m9 updated: nothing changed"
    assert "api_key" not in again.stdout
    stored = _stored(db_url)
    assert stored.api_key == api_key
    assert stored.notify_prefixes == '["https://shop.example/"]'  # omitted: kept


def test_a_different_api_key_is_refused_without_rotate(db_url: str, tmp_path: Path) -> None:
    key, _ = _key_file(tmp_path, "k.pem")
    api_key = _printed_key(_add(db_url, key))
    refused = _add(db_url, key, "--api-key", "B" * 32)
    assert refused.exit_code == 2
    assert "--rotate-api-key" in refused.stderr
    assert "B" * 32 not in refused.output
    assert _stored(db_url).api_key == api_key


def test_rotate_api_key_generates_a_new_one_and_says_so(db_url: str, tmp_path: Path) -> None:
    key, _ = _key_file(tmp_path, "k.pem")
    old = _printed_key(_add(db_url, key))
    rotated = _add(db_url, key, "--rotate-api-key")
    assert rotated.exit_code == 0, rotated.output
    assert "merchant m9 updated: api key: replaced" in rotated.stdout
    new = _printed_key(rotated)
    assert new != old
    assert _stored(db_url).api_key == new


def test_rotate_with_a_given_key_stores_it_without_echoing_it(db_url: str, tmp_path: Path) -> None:
    key, _ = _key_file(tmp_path, "k.pem")
    _add(db_url, key)
    rotated = _add(db_url, key, "--rotate-api-key", "--api-key", "C" * 32)
    assert rotated.exit_code == 0, rotated.output
    assert "C" * 32 not in rotated.output
    assert _stored(db_url).api_key == "C" * 32


def test_changes_are_printed_field_by_field(db_url: str, tmp_path: Path) -> None:
    key, _ = _key_file(tmp_path, "k.pem")
    other, other_serial = _key_file(tmp_path, "k2.pem")
    _add(db_url, key)
    args = ["issuer", "add-merchant", "--database", db_url, "--id", "m9", "--name", "十号店",
            "--public-key", str(other), "--return-prefix", "https://shop.example/"]  # fmt: skip
    result = CliRunner().invoke(main, args, env={"PAYLATER_MERCHANT_API_KEY": ""})
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "merchant m9 updated: name: '九号店' -> '十号店'; "
        "return prefixes: [] -> ['https://shop.example/']; "
        f"public keys added: {other_serial}"
    )


def test_a_warning_when_no_notify_prefix_is_registered(db_url: str, tmp_path: Path) -> None:
    key, _ = _key_file(tmp_path, "k.pem")
    result = _add(db_url, key)
    assert result.exit_code == 0
    assert "Warning: no --notify-prefix" in result.stderr
    with_prefix = _add(db_url, key, "--notify-prefix", "https://shop.example/")
    assert "Warning" not in with_prefix.stderr
