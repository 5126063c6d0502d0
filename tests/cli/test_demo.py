"""``paylater demo``: the walkthrough end to end on free ports, and a clean Ctrl-C stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

import paylater_sdk
from paylater_sdk.cli import demo as demo_module
from paylater_sdk.cli import main

ROOT = Path(__file__).resolve().parents[2]
CMD = [sys.executable, "-c", "from paylater_sdk.cli import main; main()", "demo"]


def test_walkthrough_buys_refunds_repays_and_checks_the_ledger() -> None:
    done = subprocess.run(
        [*CMD, "--walkthrough", "--issuer-port", "0", "--merchant-port", "0"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for needle in (
        "quote: 降噪蓝牙耳机 ¥1,299.00, as low as ¥",
        "eligibility: the test buyer is eligible",
        "checkout: created for plan",
        "is AUTHORIZED with a 6-installment schedule",
        "notification: CHECKOUT.AUTHORIZED verified",
        "capture: shipped",
        "refund: ¥300.00 refunded",
        "repayment: the buyer repaid installment 1",
        "ORDER.CAPTURED and REFUND.SUCCEEDED delivered",
        "delivery log: the issuer delivered 3 notifications, all processed",
        "ledger: limit = available + held + outstanding principal",
        "walkthrough OK",
    ):
        assert needle in out
    steps = re.findall(r"^\[(\d+)\]", out, flags=re.MULTILINE)
    assert steps == [str(n) for n in range(1, 12)]
    data = re.search(r"data folder\s+(\S+)", out)
    assert data is not None
    assert not Path(data.group(1)).exists()  # the temporary folder is gone
    assert "stopped; temporary data removed." in out
    assert "Press Ctrl-C" not in out  # nothing to interrupt: it ends by itself


def test_demo_serves_both_apps_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [*CMD, "--issuer-port", "0", "--merchant-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        banner = "".join(lines)
        shop = re.search(r"shop\s+\(merchant\)\s+(http://127\.0\.0\.1:\d+)/", banner)
        issuer = re.search(r"issuer \(mock 分付\)\s+(http://127\.0\.0\.1:\d+)/", banner)
        assert shop is not None, banner
        assert issuer is not None, banner
        assert "phone 13800138000, code 123456" in banner
        page = requests.get(f"{shop.group(1)}/", timeout=30)
        assert page.status_code == 200
        assert "小青商店" in page.text
        assert requests.get(f"{issuer.group(1)}/v1/openapi.json", timeout=30).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopping" in out
    assert "stopped; temporary data removed." in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_demo_removes_its_folder_with_the_private_key_on_a_signal(signum: int) -> None:
    proc = subprocess.Popen(
        [*CMD, "--issuer-port", "0", "--merchant-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        found = re.search(r"data folder\s+(\S+) \(removed on exit\)", "".join(lines))
        assert found is not None, lines
        folder = Path(found.group(1))
        assert (folder / "merchant_private.pem").is_file()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped; temporary data removed." in out
    assert not folder.exists()


def test_demo_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--walkthrough", "--issuer-port", "--merchant-port"):
        assert option in result.output


def test_demo_rejects_a_bad_port() -> None:
    result = CliRunner().invoke(main, ["demo", "--issuer-port", "70000"])
    assert result.exit_code == 2
    assert "70000" in result.output


def test_demo_explains_a_missing_source_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name="examples")

    monkeypatch.setattr(demo_module.importlib, "import_module", missing)
    monkeypatch.setattr(paylater_sdk, "__file__", str(tmp_path / "pkg" / "__init__.py"))
    with pytest.raises(click.ClickException, match="from a source checkout"):
        demo_module.load_shop_factory()
