"""Wire protocol benchmarks: this library side by side with the raw primitives it wraps.

    python benchmarks/bench_protocol.py            # full run (about a minute)
    python benchmarks/bench_protocol.py --quick    # smoke run

Each comparison times the library and its baseline in alternating batches on the same
bytes, and reports the per-operation time of the fastest batch (the least disturbed by
other processes) and the median. The ratio uses the fastest batches. Floors (exit code 1
if one is missed):

- sign + verify of a 1 KiB request, library vs raw ``cryptography`` sign + verify of the
  same string to sign: ratio <= 1.15, for RSA-2048 and for Ed25519;
- RSA request signing, library vs ``wechatpayv3.utils.build_authorization``: ratio <= 1.0;
- opening a notification, library vs a hand-written raw verify + JSON parse + AES-GCM
  decrypt + JSON parse of the resource: ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paylater_sdk.signing import (
    WECHATPAY_V3,
    InMemoryNonceStore,
    KeyRing,
    RequestSigner,
    ResponseSigner,
    generate_private_key,
    open_notification,
    request_message,
    seal_notification,
    serial_for,
    verify_request,
)

BODY = json.dumps(
    {
        "out_trade_no": "A1001",
        "amount": {"value": 12000, "currency": "CNY"},
        "description": "x" * 900,
        "notify_url": "https://shop.example/notify",
    },
    separators=(",", ":"),
).encode()[:1024]
PATH = "/v1/checkouts"
API_KEY = b"0123456789abcdef0123456789abcdef"


@dataclass
class Result:
    name: str
    lib: list[float]
    base: list[float]
    floor: float
    baseline_name: str

    @property
    def ratio(self) -> float:
        return min(self.lib) / min(self.base)

    @property
    def ok(self) -> bool:
        return self.ratio <= self.floor


def _batch(fn: Callable[[], object], n: int) -> float:
    # CPU time of this thread: time spent descheduled on a shared 2-core box does not count.
    # The garbage collector is off while timing, as timeit does.
    gc.disable()
    try:
        start = time.thread_time()
        for _ in range(n):
            fn()
        return (time.thread_time() - start) / n
    finally:
        gc.enable()


def compare(
    name: str,
    lib: Callable[[], object],
    base: Callable[[], object],
    *,
    floor: float,
    batch: int,
    rounds: int,
    baseline_name: str = "raw cryptography",
) -> Result:
    for _ in range(max(1, batch // 4)):  # warm up caches and lazy imports
        lib()
        base()
    lib_times: list[float] = []
    base_times: list[float] = []
    for i in range(rounds):
        # Alternate which one runs first so drifting load hits both alike.
        if i % 2:
            lib_times.append(_batch(lib, batch))
            base_times.append(_batch(base, batch))
        else:
            base_times.append(_batch(base, batch))
            lib_times.append(_batch(lib, batch))
    return Result(name, lib_times, base_times, floor, baseline_name)


def request_cases(alg: str, batch: int, rounds: int) -> Result:
    key = generate_private_key(alg)
    public = key.public_key()
    serial = serial_for(key)
    ring = KeyRing()
    ring.add(public)
    store = InMemoryNonceStore(max_entries=50_000_000)
    signer = RequestSigner("mch_bench", key, serial)

    def lib() -> None:
        auth = signer.authorization("POST", PATH, BODY)
        verify_request(auth, "POST", PATH, BODY, keyring=ring, nonce_store=store)

    message = request_message(
        "POST", PATH, int(time.time()), "593BEC0C930BF1AFEB40B4A08C8FB242", BODY
    )
    if alg == "rsa":
        pad, sha = padding.PKCS1v15(), hashes.SHA256()

        def base() -> None:
            signature = key.sign(message, pad, sha)  # type: ignore[call-arg, arg-type]
            public.verify(signature, message, pad, sha)  # type: ignore[call-arg, arg-type]

    else:

        def base() -> None:
            signature = key.sign(message)  # type: ignore[call-arg]
            public.verify(signature, message)  # type: ignore[call-arg]

    label = "RSA-2048" if alg == "rsa" else "Ed25519"
    return compare(
        f"sign+verify 1 KiB request, {label}", lib, base, floor=1.15, batch=batch, rounds=rounds
    )


def wechatpay_case(batch: int, rounds: int) -> Result:
    from wechatpayv3.utils import build_authorization

    key = generate_private_key("rsa")
    serial = serial_for(key)
    signer = RequestSigner("1900000001", key, serial, profile=WECHATPAY_V3)
    text = BODY.decode()

    def lib() -> None:
        signer.authorization("POST", PATH, BODY)

    def base() -> None:
        build_authorization(PATH, "POST", "1900000001", serial, key, data=text)

    return compare(
        "sign 1 KiB request, RSA-2048 (WeChat profile)",
        lib,
        base,
        floor=1.0,
        batch=batch,
        rounds=rounds,
        baseline_name="wechatpayv3 build_authorization",
    )


def notification_case(batch: int, rounds: int) -> Result:
    key = generate_private_key("ed25519")
    public = key.public_key()
    ring = KeyRing()
    ring.add(public)
    signer = ResponseSigner(key, serial_for(key))
    resource = {
        "id": "co_bench",
        "state": "AUTHORIZED",
        "description": "y" * 800,
        "amount": {"value": 12000},
    }
    count = batch * (rounds + 1)
    sealed = [
        seal_notification(
            {"event_type": "CHECKOUT.AUTHORIZED", "resource": resource}, API_KEY, signer
        )
        for _ in range(count)
    ]
    now = int(time.time())
    # Replay protection refuses a nonce twice: the library never gets the same one again.
    store = InMemoryNonceStore(max_entries=50_000_000)
    lib_items = iter(sealed * 2)
    base_items = iter(sealed * 2)

    def lib() -> None:
        headers, body = next(lib_items)
        open_notification(headers, body, api_key=API_KEY, keyring=ring, nonce_store=store, now=now)

    def base() -> None:
        headers, body = next(base_items)
        message = b"%s\n%s\n%s\n" % (
            headers["Paylater-Timestamp"].encode(),
            headers["Paylater-Nonce"].encode(),
            body,
        )
        public.verify(base64.b64decode(headers["Paylater-Signature"]), message)
        envelope = json.loads(body)
        res = envelope["resource"]
        plaintext = AESGCM(API_KEY).decrypt(
            res["nonce"].encode(),
            base64.b64decode(res["ciphertext"]),
            res["associated_data"].encode(),
        )
        json.loads(plaintext)

    return compare(
        "open a notification (Ed25519 + AES-256-GCM)",
        lib,
        base,
        floor=1.2,
        batch=batch,
        rounds=rounds,
        baseline_name="raw verify + json + decrypt",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke test")
    args = parser.parse_args(argv)
    # Many short alternating batches: the fastest of each side is the least disturbed one.
    rounds = 10 if args.quick else 300
    results = [
        request_cases("rsa", 4, rounds),
        request_cases("ed25519", 16, rounds),
        wechatpay_case(4, rounds),
        notification_case(16, rounds),
    ]
    print(f"{'case':48} {'library':>12} {'baseline':>12}  {'ratio':>6}  floor   baseline")
    for r in results:
        print(
            f"{r.name:48} {min(r.lib) * 1e6:9.1f} us {min(r.base) * 1e6:9.1f} us  "
            f"{r.ratio:6.3f}  {'<=' if r.ok else '>'} {r.floor:<4} {r.baseline_name}"
            f"{'' if r.ok else '   MISSED'}"
        )
        print(
            f"{'  (median)':48} {statistics.median(r.lib) * 1e6:9.1f} us "
            f"{statistics.median(r.base) * 1e6:9.1f} us  "
            f"{statistics.median(r.lib) / statistics.median(r.base):6.3f}"
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
