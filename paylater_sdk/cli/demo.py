"""``paylater demo``: the mock issuer and the example shop on loopback, in one command.

Everything lives in a temporary folder (keys, both SQLite databases) that is removed on
exit, so a newcomer's first command leaves nothing behind. ``--walkthrough`` then drives a
whole purchase over real HTTP, the way a browser and a shop operator would, and checks the
issuer's ledger invariant at the end: the README's "does it all work" command.
"""

from __future__ import annotations

import contextlib
import importlib
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["DemoStack", "demo", "load_shop_factory"]

MERCHANT_ID = "mch_demo"
BUYER_PHONE = "13800138000"
# Retries every few seconds instead of the production 15 s .. 6 h schedule.
DEMO_NOTIFY_SCHEDULE = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]


def load_shop_factory() -> Callable[..., Any]:
    """Import ``examples.merchant_flask.create_app`` from the source checkout.

    The example shop is not part of the wheel; with an editable install (or from a clone)
    the repository root sits next to the package, so it is put on ``sys.path`` if needed.
    """
    try:
        module = importlib.import_module("examples.merchant_flask")
    except ModuleNotFoundError as exc:
        if exc.name not in ("examples", "examples.merchant_flask"):
            raise
        import paylater_sdk

        root = Path(paylater_sdk.__file__).resolve().parent.parent
        if not (root / "examples" / "merchant_flask" / "__init__.py").is_file():
            raise click.ClickException(
                "paylater demo runs the example shop from a source checkout, and none was "
                f"found next to {root}: clone the repository and install it with "
                "'pip install -e \".[issuer]\"', then run 'paylater demo' again"
            ) from None
        sys.path.insert(0, str(root))
        module = importlib.import_module("examples.merchant_flask")
    factory: Callable[..., Any] = module.create_app
    return factory


class _Server:
    """A waitress server on loopback in a daemon thread, stoppable from another thread."""

    def __init__(self, port: int, name: str) -> None:
        import waitress

        # Bind first with a placeholder app: the real apps need each other's URLs, and
        # binding early makes port 0 (any free port) race-free.
        self.server: Any = waitress.create_server(
            self._unavailable,
            host="127.0.0.1",
            port=port,
            threads=4,
            clear_untrusted_proxy_headers=True,
        )
        self.port = int(self.server.effective_port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._run, name=f"paylater-demo-{name}", daemon=True)

    @staticmethod
    def _unavailable(environ: Any, start_response: Any) -> list[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"starting\n"]

    def start(self, app: Any) -> None:
        self.server.application = app
        self.thread.start()

    def _run(self) -> None:
        # The loop can trip over a socket closed by stop(); the server is going away.
        with contextlib.suppress(OSError, ValueError):
            self.server.run()

    def stop(self) -> None:
        from waitress import wasyncore

        # Let running requests finish before their sockets and the loop's trigger go away.
        self.server.task_dispatcher.shutdown(timeout=5)
        with contextlib.suppress(OSError):
            wasyncore.close_all(self.server._map)
        if self.thread.is_alive():
            self.thread.join(timeout=5)


class DemoStack:
    """The two servers, their apps and the seeded buyer; ``close()`` undoes everything."""

    def __init__(self, *, issuer_port: int = 0, merchant_port: int = 0) -> None:
        from paylater_sdk.issuer import create_app as create_issuer_app
        from paylater_sdk.issuer import get_issuer
        from paylater_sdk.money import Money
        from paylater_sdk.signing import generate_private_key, private_key_pem, public_key_pem

        create_shop = load_shop_factory()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="paylater-demo-"))
        self._servers: list[_Server] = []
        try:
            issuer_srv = _Server(issuer_port, "issuer")
            self._servers.append(issuer_srv)
            shop_srv = _Server(merchant_port, "shop")
            self._servers.append(shop_srv)
            self.issuer_url, self.shop_url = issuer_srv.url, shop_srv.url

            key = generate_private_key("ed25519")
            key_path = self.tmpdir / "merchant_private.pem"
            key_path.write_bytes(private_key_pem(key))
            key_path.chmod(0o600)
            api_key = secrets.token_urlsafe(24)  # 32 ASCII characters = 32 bytes
            self.issuer_app = create_issuer_app(
                self._issuer_config(public_key_pem(key.public_key()).decode(), api_key)
            )
            self.issuer = get_issuer(self.issuer_app)
            self.buyer = self.issuer.create_buyer(limit=Money("20000.00", "CNY"), phone=BUYER_PHONE)
            issuer_srv.start(self.issuer_app)

            self.admin_password = secrets.token_urlsafe(12)
            self.shop_app = create_shop(self._shop_config(key_path, api_key))
            shop_srv.start(self.shop_app)
        except BaseException:
            self.close()
            raise

    def _issuer_config(self, public_key: str, api_key: str) -> dict[str, Any]:
        """The demo issuer: test mode, its own SQLite file, the shop as its one merchant."""
        return {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{self.tmpdir / 'issuer.sqlite3'}",
            "NOTIFY_WORKER": True,
            "NOTIFY_SCHEDULE": DEMO_NOTIFY_SCHEDULE,
            "PUBLIC_URL": self.issuer_url,
            "DEMO_SHOP_URL": self.shop_url,  # the landing page's way in
            "MERCHANTS": [
                {
                    "id": MERCHANT_ID,
                    "name": "小青商店 Little Green Shop",
                    "public_keys": [public_key],
                    "api_key": api_key,
                    "notify_prefixes": [self.shop_url + "/"],
                    "return_prefixes": [self.shop_url + "/"],
                }
            ],
        }

    def _shop_config(self, key_path: Path, api_key: str) -> dict[str, Any]:
        """The reference shop, signing with the key the issuer registered for it."""
        return {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ADMIN_PASSWORD": self.admin_password,
            "PAYLATER_BASE_URL": self.issuer_url,
            "PAYLATER_MERCHANT_ID": MERCHANT_ID,
            "PAYLATER_PRIVATE_KEY": str(key_path),
            "PAYLATER_API_KEY": api_key,
            "DATABASE_URL": f"sqlite:///{self.tmpdir / 'shop.sqlite3'}",
            "PUBLIC_URL": self.shop_url,
            "ISSUER_ADMIN_URL": (
                f"{self.issuer_url}/_admin/notifications?merchant_id={MERCHANT_ID}"
            ),
        }

    def close(self) -> None:
        """Stop the delivery worker, then the servers; dispose engines; delete the folder."""
        issuer_app = getattr(self, "issuer_app", None)
        if issuer_app is not None:
            from paylater_sdk.issuer import stop_background

            # First: no delivery is left half-way to a server that is going away.
            stop_background(issuer_app)
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        shop_app = getattr(self, "shop_app", None)
        client = shop_app.extensions["shop"].get("client") if shop_app is not None else None
        close_client = getattr(client, "close", None)
        if callable(close_client):
            close_client()  # its pooled keep-alive sockets to the issuer
        for app in (shop_app, issuer_app):
            engine = _engine_of(app)
            if engine is not None:
                engine.dispose()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def banner(self, *, interactive: bool = True) -> str:
        lines = [
            "paylater demo is running (test mode, nothing real moves):",
            f"  shop   (merchant)  {self.shop_url}/",
            f"  admin              {self.shop_url}/admin/   user 'admin', "
            f"password {self.admin_password}",
            f"  issuer (mock 分付)  {self.issuer_url}/",
            "  test buyer sign-in: phone "
            f"{self.buyer.phone}, code {self.buyer.test_code}, "
            f"buyer token {self.buyer.buyer_token}",
            f"  data folder        {self.tmpdir} (removed on exit)",
        ]
        if interactive:
            lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _engine_of(app: Any) -> Any:
    if app is None:
        return None
    shop = app.extensions.get("shop")
    if isinstance(shop, dict):
        return shop.get("engine")
    issuer = app.extensions.get("paylater_issuer")
    return getattr(issuer, "engine", None)


@click.command("demo")
@click.option("--walkthrough", is_flag=True, help="Drive a whole purchase over HTTP, then exit.")
@click.option(
    "--issuer-port",
    default=8700,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the mock issuer on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--merchant-port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the example shop on 127.0.0.1 (0: any free port).",
)
def demo(walkthrough: bool, issuer_port: int, merchant_port: int) -> None:
    """Run the mock issuer and the example shop locally (ports on 127.0.0.1 only)."""
    # SIGTERM (kill, a closed terminal's supervisor, docker stop) ends like Ctrl-C, so the
    # temporary folder, which holds the merchant's private key, is removed either way.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack = DemoStack(issuer_port=issuer_port, merchant_port=merchant_port)
    except OSError as exc:
        raise click.ClickException(
            f"could not start the servers ({exc}); pick free ports with --issuer-port and "
            "--merchant-port (0 = any free port)"
        ) from exc
    interrupted = False
    try:
        click.echo(stack.banner(interactive=not walkthrough))
        if walkthrough:
            from ._walkthrough import run_walkthrough

            if not run_walkthrough(stack, echo=click.echo):
                raise SystemExit(1)
            return
        stop = threading.Event()
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, whenever it comes
        interrupted = True
        click.echo("\nstopping ...")
    finally:
        stack.close()
        click.echo("stopped; temporary data removed.")
    if interrupted and walkthrough:
        raise SystemExit(130)  # a walkthrough cut short did not prove anything
