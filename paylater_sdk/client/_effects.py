"""The effects an operation yields to its runner, and the :data:`Op` type itself.

An operation (a generator over the sans-I/O core, :mod:`._requester`) never performs I/O:
it yields one of these and is sent the result, so one definition runs under the
``requests`` runner (:mod:`._runner`) and the httpx one (:mod:`._httpx`) alike.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, Literal, TypeVar

import attrs

T = TypeVar("T")


@attrs.frozen
class HttpRequest:
    """Send this, without following redirects, within ``timeout`` (connect, read)."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    timeout: tuple[float, float]


@attrs.frozen
class HttpStream:
    """Send this GET like an :class:`HttpRequest`, but hand a 2xx body to ``sink`` chunk by
    chunk as it arrives (the answer's ``body`` is then empty); any other answer is read
    whole, an error to interpret. A file is never held in memory."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    timeout: tuple[float, float]
    sink: Callable[[bytes], object] = attrs.field(repr=False)


@attrs.frozen
class HttpResponse:
    """What came back: ``headers`` must be a case-insensitive mapping, ``body`` raw bytes."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)


#: How a transport failed: ``tls`` and ``fatal`` are not retried.
FailureKind = Literal["tls", "timeout", "connection", "fatal"]


@attrs.frozen
class TransportFailure:
    """The runner's answer to an :class:`HttpRequest` that raised instead of answering."""

    kind: FailureKind
    error: BaseException


@attrs.frozen
class Sleep:
    """Back off ``seconds`` before the next attempt."""

    seconds: float


@attrs.frozen
class NeedKeys:
    """Load the issuer's keys (``serial=None``), or refresh them for an unknown ``serial``.

    The runner handles it under its own lock (a thread lock, or an async lock that does
    not block the event loop), asking :meth:`Requester.plan_keys` whether to fetch.
    ``force`` is an explicit ``refresh_issuer_keys()``: fetch whatever the rate limit says.
    """

    serial: str | None = None
    force: bool = False


Effect = HttpRequest | HttpStream | Sleep | NeedKeys
#: An operation: yields effects, is sent their results, returns a ``T``.
Op = Generator[Effect, Any, T]
