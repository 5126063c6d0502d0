"""``paylater issuer add-merchant --wechat``: a WeChat Pay v3 merchant from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from paylater_sdk.cli import main
from paylater_sdk.issuer import create_app
from paylater_sdk.issuer.domain.wechat import WeChatDesk
from paylater_sdk.signing import generate_certificate, generate_private_key, public_key_pem


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'issuer.db'}"
    create_app({"DATABASE_URL": url, "TEST_MODE": True})
    return url


def _add(db_url: str, *extra: str) -> Result:
    args = ["issuer", "add-merchant", "--database", db_url, "--wechat", "--id", "1900000001",
            "--name", "小青商店", "--notify-prefix", "https://shop.example/", *extra]  # fmt: skip
    return CliRunner().invoke(main, args, env={"PAYLATER_MERCHANT_API_KEY": ""})


def _desk(db_url: str) -> WeChatDesk:
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "k" * 32})
    found: WeChatDesk = app.extensions["paylater_wechat"]
    return found


def test_a_certificate_gives_the_serial_and_a_generated_apiv3_key(
    db_url: str, tmp_path: Path
) -> None:
    cert = generate_certificate(generate_private_key("rsa"), common_name="1900000001")
    path = tmp_path / "apiclient_cert.pem"
    path.write_bytes(cert.pem)
    result = _add(db_url, "--certificate", str(path), "--key-mode", "certificate")
    assert result.exit_code == 0, result.output
    assert f"serial_no {cert.serial}, key mode certificate" in result.stdout
    apiv3 = re.search(r"^apiv3_key: ([A-Za-z0-9]{32})$", result.stdout, re.MULTILINE)
    assert apiv3 is not None
    merchant = _desk(db_url).merchant("1900000001")
    assert merchant is not None
    assert (merchant.apiv3_key, merchant.key_mode) == (apiv3.group(1), "certificate")
    assert apiv3.group(1) not in repr(merchant)


def test_a_public_key_with_the_serial_the_sdk_sends(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "pub.pem"
    path.write_bytes(public_key_pem(generate_private_key("rsa")))
    result = _add(db_url, "--public-key", str(path), "--serial", "ABC123", "--api-key", "A" * 32)
    assert result.exit_code == 0, result.output
    assert "serial_no ABC123, key mode public_key" in result.stdout
    assert "apiv3_key" not in result.stdout
    merchant = _desk(db_url).merchant("1900000001")
    assert merchant is not None
    assert merchant.key_mode == "public_key"


def test_bad_combinations_are_refused(db_url: str, tmp_path: Path) -> None:
    assert "--certificate or exactly one --public-key" in _add(db_url).output
    short = _add(db_url, "--public-key", str(_pub(tmp_path)), "--api-key", "short")
    assert short.exit_code == 2
    assert "32 bytes" in short.output
    plain = CliRunner().invoke(
        main, ["issuer", "add-merchant", "--database", db_url, "--id", "m1", "--name", "x"]
    )
    assert plain.exit_code == 2
    assert "--public-key is required" in plain.output


def _pub(folder: Path) -> Path:
    path = folder / "p.pem"
    path.write_bytes(public_key_pem(generate_private_key("rsa")))
    return path
