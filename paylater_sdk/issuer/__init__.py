"""The mock issuer: a stateful 分付-style credit provider for merchants to test against.

``create_app(config)`` builds a Flask app with no global state: everything lives in the
:class:`Issuer` stored in ``app.extensions["paylater_issuer"]`` (see :func:`get_issuer`).

>>> app = create_app({"TEST_MODE": True})
>>> get_issuer(app).now().tzinfo is not None
True
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .config import IssuerConfig, load_config
from .delivery import outbox
from .delivery.sweeper import Sweeper
from .domain.credit import TEST_CODE, TestBuyer
from .domain.issuer import Issuer
from .storage.schema import make_engine
from .web import (
    account,
    admin,
    admin_credit,
    consent,
    landing,
    servicing_admin,
    servicing_pages,
)
from .web._context import EXTENSION

__all__ = [
    "TEST_CODE",
    "Issuer",
    "IssuerConfig",
    "TestBuyer",
    "create_app",
    "get_issuer",
    "stop_background",
]


def _database_url(app: Flask, config: IssuerConfig) -> str:
    if config.database_url:
        return config.database_url
    if config.test_mode:
        # A throw-away file: test runs never share state or litter the source tree.
        folder = Path(tempfile.mkdtemp(prefix="paylater-issuer-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    else:
        folder = Path(app.instance_path)
        folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'issuer.db'}"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the issuer app. Config keys: see :data:`paylater_sdk.issuer.config.DEFAULTS`."""
    settings = load_config(config)
    with _ROUTES_BUILT_ONE_AT_A_TIME:  # Flask() adds its static route: see the lock
        app = Flask(__name__, instance_relative_config=False)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["PAYLATER_TEST_MODE"] = settings.test_mode
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    for key, value in (config or {}).items():
        app.config.setdefault(key, value)
    engine = make_engine(_database_url(app, settings))
    try:
        issuer = Issuer(settings, engine)
    except BaseException:
        engine.dispose()  # a refused database (schema version, ...) leaves no connection open
        raise
    app.config["SECRET_KEY"] = issuer.session_secret  # the same in every process
    app.extensions[EXTENSION] = issuer
    with _ROUTES_BUILT_ONE_AT_A_TIME:
        _install_routes(app, settings, config or {})
    if settings.notify_worker:
        worker = outbox.DeliveryWorker(issuer)
        worker.start()
        app.extensions["paylater_delivery_worker"] = worker
        sweeper = Sweeper(issuer)
        sweeper.start()
        app.extensions["paylater_sweeper"] = sweeper
        atexit.register(stop_background, app)
    return app


#: Werkzeug compiles every URL rule it adds with ``ast.parse``, and CPython 3.11's AST
#: constructor keeps its recursion depth per interpreter, not per thread: two threads
#: building apps at once can fail with ``SystemError: AST constructor recursion depth
#: mismatch`` (python/cpython#106905; seen in this project's start-up race test). Routes
#: are added by one app at a time (``Flask()`` adds one too, the static route); the
#: storage start-up between the two stays concurrent, as it is between processes.
_ROUTES_BUILT_ONE_AT_A_TIME = threading.Lock()


def _install_routes(app: Flask, settings: IssuerConfig, config: Mapping[str, Any]) -> None:
    """The error handling and every blueprint of the issuer, on ``app``."""
    from .web import api, credit_testctl, hooks, testctl, wechat

    hooks.install_error_handling(app)
    app.register_blueprint(api.blueprint)
    if settings.test_mode:
        app.register_blueprint(testctl.blueprint)
        app.register_blueprint(credit_testctl.blueprint)
    app.register_blueprint(consent.blueprint)
    app.register_blueprint(account.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(admin_credit.blueprint)
    app.register_blueprint(servicing_admin.blueprint)
    app.register_blueprint(servicing_pages.blueprint)
    app.register_blueprint(landing.blueprint)
    wechat.install(app, config)  # the WeChat Pay v3 face (/v3): docs/wechat.md


def stop_background(app: Flask) -> None:
    """Stop the delivery worker and the sweeper of ``app`` (idempotent).

    Call it before taking the database away (a test's temporary folder, a demo's); it also
    runs at interpreter exit. Pending notifications stay in the database for the next start.
    """
    for name in ("paylater_delivery_worker", "paylater_sweeper"):
        thread = app.extensions.get(name)
        if thread is not None:
            thread.stop()


def get_issuer(app: Flask) -> Issuer:
    """The :class:`Issuer` behind an app made by :func:`create_app`."""
    try:
        issuer: Issuer = app.extensions[EXTENSION]
    except KeyError:
        raise LookupError("this Flask app was not made by paylater_sdk.issuer.create_app") from None
    return issuer
