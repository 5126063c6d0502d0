"""RedisNonceStore: nonce memory shared across processes (fakeredis stands in for Redis)."""

from __future__ import annotations

import threading
from typing import Any

import fakeredis
import pytest

from paylater_sdk.errors import ConfigurationError, ReplayError
from paylater_sdk.signing import (
    KeyRing,
    NonceStore,
    RedisNonceStore,
    RequestSigner,
    generate_private_key,
    serial_for,
    verify_request,
)


@pytest.fixture
def redis() -> Any:
    return fakeredis.FakeStrictRedis()


def test_a_nonce_is_accepted_once_and_expires_with_twice_the_window(redis: Any) -> None:
    store = RedisNonceStore(redis, window_seconds=300)
    store.check_and_store("n1", 1_700_000_000)
    with pytest.raises(ReplayError, match="already used"):
        store.check_and_store("n1", 1_700_000_001)
    assert redis.get("paylater:nonce:n1") == b"1"
    assert redis.ttl("paylater:nonce:n1") == 600
    store.check_and_store("n2", 1_700_000_000)  # another nonce is fine


def test_two_stores_on_one_redis_share_the_memory(redis: Any) -> None:
    # Two worker processes behind a load balancer.
    RedisNonceStore(redis).check_and_store("shared", 1)
    with pytest.raises(ReplayError):
        RedisNonceStore(redis).check_and_store("shared", 1)


def test_prefixes_keep_stores_apart(redis: Any) -> None:
    RedisNonceStore(redis, prefix="issuer-a:").check_and_store("n", 1)
    RedisNonceStore(redis, prefix="issuer-b:").check_and_store("n", 1)
    assert sorted(redis.keys()) == [b"issuer-a:n", b"issuer-b:n"]


def test_concurrent_checks_of_one_nonce_accept_exactly_one(redis: Any) -> None:
    store = RedisNonceStore(redis)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            store.check_and_store("race", 1)
            outcomes.append("accepted")
        except ReplayError:
            outcomes.append("replay")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted"] + ["replay"] * 7


def test_an_unreachable_redis_fails_closed() -> None:
    class Down:
        def set(self, name: str, value: str, *, nx: bool, ex: int) -> Any:
            raise ConnectionError("connection refused")

    with pytest.raises(ReplayError, match="unavailable") as info:
        RedisNonceStore(Down()).check_and_store("n", 1)
    assert isinstance(info.value.__cause__, ConnectionError)


@pytest.mark.parametrize("window", [0, -5, "300", True])
def test_bad_windows_are_refused(redis: Any, window: Any) -> None:
    with pytest.raises(ConfigurationError, match="window_seconds"):
        RedisNonceStore(redis, window_seconds=window)


def test_a_client_without_set_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"redis\.Redis"):
        RedisNonceStore(object())  # type: ignore[arg-type]


def test_empty_nonce_is_refused(redis: Any) -> None:
    with pytest.raises(ReplayError, match="non-empty"):
        RedisNonceStore(redis).check_and_store("", 1)


def test_it_is_a_nonce_store_that_verify_request_uses(redis: Any) -> None:
    store = RedisNonceStore(redis)
    assert isinstance(store, NonceStore)
    key = generate_private_key("ed25519")
    ring = KeyRing()
    ring.add(key.public_key())
    auth = RequestSigner("mch_1", key, serial_for(key)).authorization("POST", "/v1/refunds", b"{}")
    assert verify_request(auth, "POST", "/v1/refunds", b"{}", keyring=ring, nonce_store=store) == (
        "mch_1"
    )
    with pytest.raises(ReplayError):  # the same signed request again, e.g. on another worker
        verify_request(
            auth, "POST", "/v1/refunds", b"{}", keyring=ring, nonce_store=RedisNonceStore(redis)
        )


def test_a_window_shorter_than_the_skew_is_refused_by_the_verifier(redis: Any) -> None:
    key = generate_private_key("ed25519")
    ring = KeyRing()
    ring.add(key.public_key())
    auth = RequestSigner("mch_1", key, serial_for(key)).authorization("GET", "/v1/x", b"")
    with pytest.raises(ConfigurationError, match="window_seconds >= max_skew"):
        verify_request(
            auth,
            "GET",
            "/v1/x",
            b"",
            keyring=ring,
            nonce_store=RedisNonceStore(redis, window_seconds=60),
        )
