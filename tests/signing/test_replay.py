"""The nonce memory: replays refused, entries expire with the window, memory stays bounded."""

from __future__ import annotations

import threading

import pytest

from paylater_sdk.errors import ConfigurationError, ReplayError
from paylater_sdk.signing import InMemoryNonceStore, NonceStore

T = 1_796_000_000


def test_is_a_nonce_store():
    assert isinstance(InMemoryNonceStore(), NonceStore)
    assert bool(InMemoryNonceStore()) is True  # empty, yet never dropped by `store or ...`
    assert InMemoryNonceStore().window_seconds == 300


def test_second_use_is_a_replay():
    store = InMemoryNonceStore()
    store.check_and_store("n1", T)
    store.check_and_store("n2", T)
    with pytest.raises(ReplayError, match="already used"):
        store.check_and_store("n1", T + 10)
    assert len(store) == 2


def test_keys_are_the_exact_string():
    store = InMemoryNonceStore()
    store.check_and_store("mch_a:N", T)
    store.check_and_store("mch_b:N", T)
    store.check_and_store("n", T)
    store.check_and_store("N", T)
    assert len(store) == 4


def test_entries_expire_after_two_windows_of_message_time():
    store = InMemoryNonceStore(window_seconds=300)
    store.check_and_store("old", T)
    # Still remembered while a replay could pass the +/-300 s timestamp check.
    store.check_and_store("a", T + 600)
    with pytest.raises(ReplayError):
        store.check_and_store("old", T + 600)
    store.check_and_store("b", T + 601)
    assert "old" not in store._seen
    assert len(store) == 2
    store.check_and_store("old", T + 601)  # forgotten: the verifier's clock check guards it now


def test_out_of_order_timestamps_within_window():
    store = InMemoryNonceStore(window_seconds=300)
    store.check_and_store("late", T + 250)
    store.check_and_store("early", T - 250)
    with pytest.raises(ReplayError):
        store.check_and_store("early", T)
    assert len(store) == 2


def test_memory_is_bounded_and_fails_closed():
    store = InMemoryNonceStore(window_seconds=10, max_entries=3)
    for i in range(3):
        store.check_and_store(f"n{i}", T)
    with pytest.raises(ReplayError, match="full"):
        store.check_and_store("n3", T + 1)
    assert len(store) == 3
    # Time moves on: the old entries expire and make room again.
    store.check_and_store("n4", T + 21)
    assert len(store) == 1


def test_many_entries_stay_bounded_by_the_window():
    store = InMemoryNonceStore(window_seconds=5, max_entries=100)
    for i in range(10_000):
        store.check_and_store(f"n{i}", T + i)
    assert len(store) <= 11
    assert len(store._expiry) == len(store)


def test_thread_safe_single_winner():
    store = InMemoryNonceStore()
    wins: list[int] = []
    losses: list[int] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        for n in range(200):
            try:
                store.check_and_store(f"shared-{n}", T)
            except ReplayError:
                losses.append(i)
            else:
                wins.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 200
    assert len(losses) == 7 * 200
    assert len(store) == 200


@pytest.mark.parametrize("nonce", ["", None, 5])
def test_bad_nonce(nonce):
    with pytest.raises(ReplayError, match="non-empty string"):
        InMemoryNonceStore().check_and_store(nonce, T)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_seconds": 0},
        {"window_seconds": -1},
        {"window_seconds": 1.5},
        {"window_seconds": True},
        {"max_entries": 0},
        {"max_entries": "10"},
    ],
)
def test_bad_configuration(kwargs):
    with pytest.raises(ConfigurationError):
        InMemoryNonceStore(**kwargs)


def test_repr_shows_sizes_not_nonces():
    store = InMemoryNonceStore(window_seconds=60, max_entries=5)
    store.check_and_store("SECRETNONCE", T)
    text = repr(store)
    assert text == "InMemoryNonceStore(window_seconds=60, entries=1, max_entries=5)"
    assert "SECRETNONCE" not in text
