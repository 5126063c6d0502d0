"""``client.bills``: the merchant's settlement bills (docs/settlement.md).

``trade(date)`` asks for a day's bill (a signed answer: where to download it and the
SHA-256 of the file); ``download(date, dest)`` streams the file to a path or a binary
file object, hashing as it writes, and refuses bytes that do not match the hash
(:class:`~paylater_sdk.errors.BillIntegrityError`). A path is written through a temporary
file next to it and renamed into place only once the hash matches, so ``dest`` is never a
partial or corrupt bill. Written once, as operations over the sans-I/O core, so the sync
and async clients share it; the file transfer is the one streamed effect
(:class:`~._effects.HttpStream`) both runners perform.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from collections.abc import Mapping
from datetime import date
from typing import IO, Any
from urllib.parse import urlsplit

import attrs

from ..errors import APIError, BillIntegrityError, InvalidRequestError, PayLaterError
from ..lifecycle import API_VERSION, VERSION_HEADER
from ._effects import HttpStream, Op, TransportFailure
from ._fields import Fields, frozen_raw, raw_field
from ._identity import USER_AGENT
from ._ops import M, Service, operation


@attrs.frozen
class TradeBill:
    """Where a day's trade bill is and the hash its file must have."""

    download_url: str
    hash_type: str
    hash_value: str
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TradeBill:
        """Build from the issuer's JSON object; raise on a missing or mistyped field."""
        f = Fields(data, "trade bill")
        return cls(
            download_url=f.text("download_url"),
            hash_type=f.text("hash_type"),
            hash_value=f.text("hash_value"),
            raw=frozen_raw(f.data),
        )


def _day(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InvalidRequestError(
        f"date must be a datetime.date or a 'YYYY-MM-DD' string, got {str(value)[:40]!r}"
    )


class _Sink:
    """Writes each chunk and hashes it; where the bytes go is the destination's affair."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def __call__(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)


def _check(bill: TradeBill, sink: _Sink) -> None:
    if bill.hash_type != "SHA256":
        raise BillIntegrityError(f"unknown bill hash_type {bill.hash_type[:20]!r}")
    if not hmac.compare_digest(sink.digest.hexdigest(), bill.hash_value.lower()):
        raise BillIntegrityError(
            f"the downloaded bill ({sink.size} bytes) does not match its SHA-256 "
            f"{bill.hash_value[:12]}...: corrupted or cut short in transit; download it again"
        )


class BillsService(Service[M]):
    """The merchant's settlement bills; see docs/settlement.md for the file's columns."""

    @operation
    def trade(self, date: date | str) -> Op[TradeBill]:
        """The trade bill of a business day that has ended (Asia/Shanghai by default):
        its ``download_url`` and the SHA-256 ``hash_value`` of the file."""
        return (yield from _trade(self, date))

    @operation
    def download(self, date: date | str, dest: str | os.PathLike[str] | IO[bytes]) -> Op[TradeBill]:
        """Download the day's bill (gzip CSV) to a path or a binary file object.

        The bytes are hashed as they are written and checked against the signed answer's
        SHA-256; a mismatch raises :class:`BillIntegrityError`. A path only ever receives
        a verified file (a temporary file next to it is renamed into place; it is removed
        on any failure); a seekable file object is truncated back to where it was.
        Returns the :class:`TradeBill` downloaded.
        """
        bill = yield from _trade(self, date)
        if isinstance(dest, str | os.PathLike):
            yield from self._to_path(bill, os.fspath(dest))
        elif callable(getattr(dest, "write", None)):
            yield from self._to_file(bill, dest)
        else:
            raise InvalidRequestError(
                f"dest must be a path or a binary file object, not {type(dest).__name__}"
            )
        return bill

    def _to_path(self, bill: TradeBill, dest: str) -> Op[None]:
        folder = os.path.dirname(os.path.abspath(dest))
        handle, partial = tempfile.mkstemp(
            prefix=f".{os.path.basename(dest)}.", suffix=".part", dir=folder
        )
        try:
            with os.fdopen(handle, "wb") as file:
                sink = _Sink(file)
                yield from self._fetch(bill, sink)
            _check(bill, sink)
            os.replace(partial, dest)
        except BaseException:
            os.unlink(partial)
            raise

    def _to_file(self, bill: TradeBill, file: IO[bytes]) -> Op[None]:
        start = file.tell() if _seekable(file) else None
        sink = _Sink(file)
        try:
            yield from self._fetch(bill, sink)
            _check(bill, sink)
        except PayLaterError:
            if start is not None:
                file.seek(start)
                file.truncate()
            raise

    def _fetch(self, bill: TradeBill, sink: _Sink) -> Op[None]:
        """One signed GET of the file, streamed to ``sink`` (not retried: a transfer that
        fails raises, and a new download gets the same bytes)."""
        core = self._core
        path = urlsplit(bill.download_url).path
        if "/v1/bills/" not in path:
            raise APIError(f"the bill's download_url {bill.download_url[:80]!r} is not a bill")
        target = core.base_path + path[path.index("/v1/bills/") :]
        url = core.base_url[: len(core.base_url) - len(core.base_path)] + target
        headers = {
            "Accept": "application/gzip",
            "User-Agent": USER_AGENT,
            VERSION_HEADER: API_VERSION,
            "Authorization": core.authorization("GET", target, b""),
        }
        context = "GET bill file"
        outcome = yield HttpStream("GET", url, headers, core.timeout, sink)
        if isinstance(outcome, TransportFailure):
            failure, cause = core.network_error(outcome, context)
            raise failure from cause
        if 200 <= outcome.status < 300:
            return
        result = yield from core.interpret(outcome, context, None)
        if isinstance(result, PayLaterError):
            raise result
        raise APIError(f"{context}: an answer with no file", http_status=outcome.status)


def _trade(service: Service[Any], day: object) -> Op[TradeBill]:
    answer = yield from service._core.call("GET", "/v1/bills/trade", query={"date": _day(day)})
    return TradeBill.from_api(answer.data)


def _seekable(file: IO[bytes]) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError):
        return False
