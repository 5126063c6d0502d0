"""What several issuer processes must agree on lives in the database: start-up, signing
keys, nonces, the test clock, the session secret, rate limits.

Each "process" here is a second app on the same database (its own engine and memory);
tests/reliability/ runs real processes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.errors import ReplayError
from paylater_sdk.issuer import Issuer, create_app, get_issuer
from paylater_sdk.issuer.config import load_config
from paylater_sdk.issuer.domain.credit import preview_amount
from paylater_sdk.issuer.storage.nonces import DatabaseNonceStore
from paylater_sdk.issuer.storage.schema import issuer_keys, make_engine, rate_counters, seen_nonces
from paylater_sdk.money import Money
from tests._support.issuer import (
    API_KEY,
    MERCHANT_ID,
    SignedClient,
    checkout_body,
    cny,
    database_url,
    merchant_config,
)


def _config(url: str, merchant_key: Any, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TEST_MODE": True,
        "DATABASE_URL": url,
        "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
        "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
    }
    config.update(extra)
    return config


@pytest.fixture
def second(app: Flask, issuer: Issuer, merchant_key: Any) -> Iterator[Flask]:
    """Another issuer process on the same database."""
    other = create_app(_config(str(issuer.engine.url.render_as_string(False)), merchant_key))
    other.testing = True
    yield other
    get_issuer(other).engine.dispose()


def test_processes_starting_at_once_on_a_fresh_database_all_start(
    tmp_path: Any, merchant_key: Any
) -> None:
    url = database_url(tmp_path)
    barrier = threading.Barrier(4)
    apps: list[Flask] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait(30)
        try:
            apps.append(create_app(_config(url, merchant_key)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(apps) == 4
    engine = get_issuer(apps[0]).engine
    with engine.connect() as conn:
        active = conn.execute(
            sa.select(sa.func.count()).select_from(issuer_keys).where(issuer_keys.c.active)
        ).scalar()
    assert active == 1
    serials = {get_issuer(a).response_signer().serial for a in apps}
    assert len(serials) == 1
    for application in apps:
        get_issuer(application).engine.dispose()


def test_the_database_refuses_a_second_active_key(issuer: Issuer) -> None:
    with pytest.raises(sa.exc.IntegrityError), issuer.engine.begin() as conn:
        conn.execute(
            issuer_keys.insert().values(
                serial="extra",
                algorithm="ED25519",
                private_pem="-",
                created_at=0,
                not_after=None,
                active=True,
            )
        )


def test_a_replay_is_refused_by_another_process(
    app: Flask, second: Flask, issuer: Issuer, merchant_key: Any
) -> None:
    first = SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key)
    body = checkout_body()
    raw = json.dumps(body).encode()
    auth = first.signer.authorization("POST", "/v1/checkouts", raw)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    assert app.test_client().post("/v1/checkouts", data=raw, headers=headers).status_code == 201
    replayed = second.test_client().post("/v1/checkouts", data=raw, headers=headers)
    assert replayed.status_code == 401
    assert replayed.get_json()["code"] == "REPLAYED"
    # ... and by the first process after a restart (a new app on the same database)
    assert app.test_client().post("/v1/checkouts", data=raw, headers=headers).status_code == 401


def test_the_database_nonce_store_is_atomic_and_forgets_old_nonces(issuer: Issuer) -> None:
    store = DatabaseNonceStore(issuer.engine, window_seconds=300)
    store.check_and_store("n-1", 1_000_000)
    with pytest.raises(ReplayError):
        store.check_and_store("n-1", 1_000_000)
    assert store.purge(now=1_000_000 + 601) == 1
    with issuer.engine.connect() as conn:
        left = conn.execute(
            sa.select(seen_nonces.c.nonce).where(seen_nonces.c.nonce == "n-1")
        ).first()
    assert left is None


def test_a_broken_nonce_store_refuses_the_message(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'none.db'}")  # no tables: every insert fails
    with pytest.raises(ReplayError, match="unavailable"):
        DatabaseNonceStore(engine).check_and_store("n-2", 1)


def test_the_test_clock_moves_for_every_process(app: Flask, second: Flask, issuer: Issuer) -> None:
    before = get_issuer(second).now()
    answer = app.test_client().post("/_test/clock/advance", json={"seconds": 86_400})
    assert answer.status_code == 200
    moved = second.test_client().post("/_test/clock/advance", json={"seconds": 0}).get_json()
    assert moved["now"] == answer.get_json()["now"]
    assert (get_issuer(second).now() - before).total_seconds() >= 86_400


def test_concurrent_clock_advances_add_up(app: Flask, issuer: Issuer) -> None:
    start = issuer.clock.offset
    statuses: list[int] = []

    def advance() -> None:
        statuses.append(
            app.test_client().post("/_test/clock/advance", json={"seconds": 60}).status_code
        )

    threads = [threading.Thread(target=advance) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 8
    issuer.sync_clock()
    assert issuer.clock.offset == start + 8 * 60


def test_test_mode_processes_share_one_session_secret(app: Flask, second: Flask) -> None:
    assert app.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(app.config["SECRET_KEY"]) == 64


def test_a_configured_secret_key_wins(tmp_path: Any, merchant_key: Any) -> None:
    url = database_url(tmp_path)
    application = create_app(_config(url, merchant_key, SECRET_KEY="s" * 32))
    assert application.config["SECRET_KEY"] == "s" * 32
    get_issuer(application).engine.dispose()


def test_eligibility_answers_for_a_coarse_amount() -> None:
    assert preview_amount(Money("120.00", "CNY")) == Money("200.00", "CNY")
    assert preview_amount(Money("4999.99", "CNY")) == Money("5000.00", "CNY")
    assert preview_amount(Money("5000.01", "CNY")) == Money("7000.00", "CNY")
    assert preview_amount(Money("0.01", "CNY")) == Money("1.00", "CNY")


def test_bisection_cannot_find_the_balance(api: SignedClient, issuer: Issuer) -> None:
    """A buyer with 1,234.56 available: every amount from 1,000.01 to 2,000.00 gets the
    same answer, so the balance is hidden within a rung."""
    buyer = issuer.create_buyer(limit=Money("1234.56", "CNY"))
    answers = {
        amount: api.post(
            "/v1/credit/eligibility", {"buyer_token": buyer.buyer_token, "amount": cny(amount)}
        ).get_json()["eligible"]
        for amount in (1000_01, 1234_56, 1234_57, 1999_99)
    }
    assert answers == dict.fromkeys(answers, False)
    ok = api.post(
        "/v1/credit/eligibility", {"buyer_token": buyer.buyer_token, "amount": cny(1000_00)}
    )
    assert ok.get_json()["eligible"] is True


def test_eligibility_is_rate_limited_per_buyer(tmp_path: Any, merchant_key: Any) -> None:
    application = create_app(
        _config(database_url(tmp_path), merchant_key, ELIGIBILITY_LIMIT_PER_BUYER=[3, 600])
    )
    issuer = get_issuer(application)
    api = SignedClient(application.test_client(), issuer, MERCHANT_ID, merchant_key)
    buyer = issuer.create_buyer(limit=Money("100.00", "CNY"))
    body = {"buyer_token": buyer.buyer_token, "amount": cny(50_00)}
    statuses = [api.post("/v1/credit/eligibility", body).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = api.post("/v1/credit/eligibility", body)
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 600
    other = issuer.create_buyer(limit=Money("100.00", "CNY"))
    fresh = api.post("/v1/credit/eligibility", {"buyer_token": other.buyer_token, "amount": cny(1)})
    assert fresh.status_code == 200  # the limit is per buyer
    issuer.advance_clock(600)  # the next window
    assert api.post("/v1/credit/eligibility", body).status_code == 200
    with issuer.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.sum(rate_counters.c.hits))).scalar() >= 5
    issuer.engine.dispose()


def test_eligibility_is_rate_limited_per_merchant(tmp_path: Any, merchant_key: Any) -> None:
    application = create_app(
        _config(database_url(tmp_path), merchant_key, ELIGIBILITY_LIMIT_PER_MERCHANT=[2, 60])
    )
    issuer = get_issuer(application)
    api = SignedClient(application.test_client(), issuer, MERCHANT_ID, merchant_key)
    tokens = [issuer.create_buyer(limit=Money("1.00", "CNY")).buyer_token for _ in range(3)]
    statuses = [
        api.post("/v1/credit/eligibility", {"buyer_token": t, "amount": cny(1)}).status_code
        for t in tokens
    ]
    assert statuses == [200, 200, 429]
    issuer.engine.dispose()


@pytest.mark.parametrize("value", [[0, 60], [5], "5/60", [5, True], None, [1.5, 60]], ids=repr)
def test_bad_rate_limits_fail_at_start(value: Any) -> None:
    from paylater_sdk.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="ELIGIBILITY_LIMIT_PER_BUYER"):
        load_config({"TEST_MODE": True, "ELIGIBILITY_LIMIT_PER_BUYER": value})


def test_the_nonce_store_setting(issuer: Issuer) -> None:
    from paylater_sdk.errors import ConfigurationError
    from paylater_sdk.issuer.storage.nonces import build_nonce_store
    from paylater_sdk.signing import InMemoryNonceStore, RedisNonceStore

    assert isinstance(build_nonce_store("database", issuer.engine, 300), DatabaseNonceStore)
    assert isinstance(build_nonce_store(None, issuer.engine, 300), DatabaseNonceStore)
    assert isinstance(build_nonce_store("memory", issuer.engine, 300), InMemoryNonceStore)
    redis_store = build_nonce_store("redis://127.0.0.1:1/0", issuer.engine, 300)
    assert isinstance(redis_store, RedisNonceStore)
    assert redis_store.window_seconds == 300
    with pytest.raises(ReplayError, match="unavailable"):  # nothing listens there: fail closed
        redis_store.check_and_store("n-3", 1)
    custom = InMemoryNonceStore()
    assert build_nonce_store(custom, issuer.engine, 300) is custom
    for bad in ("mysql://x", object()):
        with pytest.raises(ConfigurationError, match="NONCE_STORE"):
            build_nonce_store(bad, issuer.engine, 300)


REDIS_URL = os.environ.get("PAYLATER_TEST_REDIS_URL")


@pytest.mark.skipif(
    not REDIS_URL and not os.environ.get("CI"), reason="set PAYLATER_TEST_REDIS_URL (CI does)"
)
def test_processes_sharing_redis_refuse_each_others_replays(
    tmp_path: Any, merchant_key: Any
) -> None:
    assert REDIS_URL, "CI must set PAYLATER_TEST_REDIS_URL"
    url = database_url(tmp_path)
    one = create_app(_config(url, merchant_key, NONCE_STORE=REDIS_URL))
    two = create_app(_config(url, merchant_key, NONCE_STORE=REDIS_URL))
    raw = json.dumps(checkout_body(f"R{os.getpid()}{id(one)}")).encode()
    signer = SignedClient(one.test_client(), get_issuer(one), MERCHANT_ID, merchant_key).signer
    headers = {
        "Authorization": signer.authorization("POST", "/v1/checkouts", raw),
        "Content-Type": "application/json",
    }
    assert one.test_client().post("/v1/checkouts", data=raw, headers=headers).status_code == 201
    replayed = two.test_client().post("/v1/checkouts", data=raw, headers=headers)
    assert replayed.status_code == 401
    assert replayed.get_json()["code"] == "REPLAYED"
    for application in (one, two):
        get_issuer(application).engine.dispose()


def test_a_fault_armed_through_one_process_hits_another(
    app: Flask, second: Flask, issuer: Issuer, merchant_key: Any
) -> None:
    other = SignedClient(second.test_client(), get_issuer(second), MERCHANT_ID, merchant_key)
    assert other.post("/v1/checkouts", checkout_body("F1")).status_code == 201  # none armed
    armed = app.test_client().post(
        "/_test/faults", json={"kind": "error_500", "path_prefix": "/v1/checkouts"}
    )
    assert armed.status_code == 201
    failed = other.post("/v1/checkouts", checkout_body("F2"))
    assert failed.status_code == 500
    assert failed.get_json()["message"] == "injected test fault: error_500"
    assert other.post("/v1/checkouts", checkout_body("F2")).status_code == 201  # used up
