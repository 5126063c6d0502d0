"""``client.notifications.parse``: any framework's headers and body in, a typed event out.

Frameworks hand headers over in many shapes: a dict, requests' or Django's case-insensitive
mappings, werkzeug's ``Headers``, Django's ``request.META`` (``HTTP_WECHATPAY_SIGNATURE``),
Starlette's ``Headers`` or the raw ASGI list of ``(bytes, bytes)`` pairs. Only the few
signature headers matter; they are picked out here into a plain dict, and anything that is
not a header collection (``None``, a number, a list of non-pairs) fails closed with a
:class:`SignatureError` rather than an ``AttributeError`` deep inside.

No network I/O happens unless the issuer's key ring is not loaded yet, or the notification
names a serial the ring does not know and a refresh is allowed (at most one per
``key_refresh_interval``, see :meth:`Requester.plan_keys`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import (
    DecryptionError,
    MalformedNotificationError,
    PayLaterError,
    SignatureError,
    UnknownKeyError,
)
from ..signing import InMemoryNonceStore, KeyRing, NonceStore, Notification, open_notification
from ._effects import Op
from ._ops import M, Runner, Service, operation
from ._requester import Requester
from .models import Event

_SIGNATURE_HEADERS = ("Signature", "Signature-Type", "Timestamp", "Nonce", "Serial")
#: More header lines than any real request has: refuse instead of iterating forever.
_MAX_HEADER_LINES = 1000


def _name(raw: object) -> str | None:
    """A header name in the canonical lower-case dash form, or None if it is not one."""
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("latin-1")
    if not isinstance(raw, str):
        return None
    name = raw.strip().lower().replace("_", "-")
    return name[5:] if name.startswith("http-") else name  # Django's META spelling


def _pairs(headers: object) -> Iterable[Any]:
    if headers is None or isinstance(headers, str | bytes | bytearray):
        raise MalformedNotificationError(
            "headers must be the request's header mapping or (name, value) pairs, "
            f"not {type(headers).__name__}"
        )
    items = getattr(headers, "items", None)
    if callable(items):  # dict, Mapping, werkzeug Headers, Django HttpHeaders and META
        try:
            found = items()
        except Exception:  # a broken mapping is not a notification
            raise MalformedNotificationError("the headers could not be read") from None
        return found if isinstance(found, Iterable) else ()
    if isinstance(headers, Iterable):  # ASGI's scope["headers"], a list of tuples
        return headers
    raise MalformedNotificationError(
        f"headers must be a mapping or (name, value) pairs, not {type(headers).__name__}"
    )


def notification_headers(headers: object, prefix: str) -> dict[str, str]:
    """The signature headers (``{prefix}-Signature`` ...) from any header collection.

    Names match case-insensitively (``_`` for ``-`` and an ``HTTP_`` prefix too, as in a
    WSGI environ); values may be ``str`` or ``bytes`` (latin-1, as HTTP defines). A header
    given twice with different values is refused: which one was signed?
    """
    wanted = {f"{prefix}-{suffix}".lower(): f"{prefix}-{suffix}" for suffix in _SIGNATURE_HEADERS}
    found: dict[str, str] = {}
    try:
        for count, pair in enumerate(_pairs(headers)):
            if count >= _MAX_HEADER_LINES:
                raise MalformedNotificationError("too many header lines")
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise MalformedNotificationError("each header must be a (name, value) pair")
            name = _name(pair[0])
            if name not in wanted:
                continue  # other headers, and WSGI environ entries that are not headers
            value = pair[1]
            if isinstance(value, bytes | bytearray):
                value = bytes(value).decode("latin-1")
            if not isinstance(value, str):
                raise MalformedNotificationError(f"the {wanted[name]} header is not text")
            canonical = wanted[name]
            if canonical in found and found[canonical] != value.strip():
                raise MalformedNotificationError(
                    f"the {canonical} header appears twice with different values"
                )
            found[canonical] = value.strip()
    except SignatureError:
        raise
    except Exception:  # iterating something that only looked like headers
        raise MalformedNotificationError("the headers could not be read") from None
    return found


def notification_body(body: object) -> bytes:
    """The raw body as bytes (text is UTF-8 encoded; anything else is refused)."""
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedNotificationError("the body text is not valid Unicode") from None
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise MalformedNotificationError(
        f"body must be the raw request bytes, not {type(body).__name__}"
    )


class NotificationsService(Service[M]):
    """Verify and decrypt the issuer's notifications (webhooks).

    Replay protection uses this service's own nonce store, in memory, per process: behind
    several workers, a replay that lands on another worker is still stopped by the
    timestamp window, and the event ``id`` is what you deduplicate on anyway. Pass a shared
    :class:`~paylater_sdk.signing.NonceStore` (``client.notifications.nonce_store = ...``)
    to close that gap.
    """

    def __init__(self, core: Requester, runner: Runner) -> None:
        super().__init__(core, runner)
        self.nonce_store: NonceStore = InMemoryNonceStore()

    @operation
    def parse(self, headers: Any, body: bytes | str) -> Op[Event]:
        """Verify (signature, timestamp, replay), decrypt and type one notification.

        ``headers``: any header mapping (case-insensitive), ``(name, value)`` pairs (str or
        bytes, as ASGI gives them), Django's ``request.headers`` or ``request.META``.
        ``body``: the raw request body bytes exactly as received (``request.get_data()`` in
        Flask, ``request.body`` in Django, ``await request.body()`` in Starlette), never a
        re-serialized JSON. Raises a :class:`SignatureError` subclass on anything
        unauthentic or malformed: answer 4xx and the issuer retries.
        """
        core = self._core
        picked = notification_headers(headers, core.profile.header_prefix)
        raw = notification_body(body)
        fetches = core.fetches
        ring = yield from core.keys()
        try:
            note = self._open(picked, raw, ring)
        except UnknownKeyError as exc:
            if core.fetches != fetches:
                raise  # the ring was fetched for this very notification: refreshing is moot
            try:
                ring = yield from core.keys(exc.serial or "")
            except SignatureError:
                raise
            except PayLaterError as failed:  # e.g. the issuer is unreachable right now
                raise UnknownKeyError(
                    f"{exc.message}; refreshing the issuer's keys failed: {failed.message}",
                    serial=exc.serial,
                ) from failed
            note = self._open(picked, raw, ring)
        return Event.from_api(
            {
                "id": note.id,
                "event_type": note.event_type,
                "create_time": note.create_time.isoformat(),
                "summary": note.summary,
                "original_type": note.original_type,
                "resource": note.resource,
            }
        )

    def _open(self, headers: dict[str, str], body: bytes, ring: KeyRing) -> Notification:
        try:
            return open_notification(
                headers,
                body,
                api_key=self._core.api_key,
                keyring=ring,
                nonce_store=self.nonce_store,
                profile=self._core.profile,
            )
        except SignatureError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            # Belt and braces: whatever slipped past the envelope checks is not authentic.
            raise DecryptionError(
                f"the notification could not be read ({type(exc).__name__})"
            ) from None
