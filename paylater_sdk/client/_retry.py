"""When to retry a call and how long to wait, isolated from the transport so tests drive it.

The schedule is stripe-python's: ``0.5 * 2**(n-1)`` seconds capped at 5 s, then jitter,
never less than the issuer's ``Retry-After`` (when that is at most a minute; a longer hint
means "not now" and the call fails instead of hanging a web request).

The retry loop itself lives in the requester, not in urllib3's adapter: every attempt must
be signed anew (fresh timestamp and nonce, or the issuer's replay protection refuses it)
while the ``Idempotency-Key`` stays the same for one logical call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs

from ..errors import ConfigurationError

#: A ``Retry-After`` longer than this (seconds) is not waited for.
MAX_RETRY_AFTER = 60.0

#: Status codes worth another attempt (409 only with ``IDEMPOTENCY_IN_PROGRESS``).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def default_jitter(delay: float) -> float:
    """Spread retries of many clients: a uniform delay between 50 % and 100 % of ``delay``."""
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - not security relevant


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True too
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0)


def _check_max_retries(_: object, __: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ConfigurationError(f"max_retries must be an integer from 0 to 10, got {value!r}")


def _check_delay(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigurationError(f"{attribute.name} must be a number >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How many times to retry and how long to sleep between attempts.

    ``jitter`` maps the capped exponential delay to the delay actually slept and ``sleep``
    does the sleeping; both are injectable so a test can make retries instantaneous and
    deterministic (``RetryPolicy(jitter=lambda d: d, sleep=slept.append)``). For the
    :class:`AsyncPayLaterClient` the default ``time.sleep`` becomes a non-blocking
    ``anyio.sleep``, and a ``sleep`` that returns an awaitable is awaited.
    """

    max_retries: int = attrs.field(default=2, validator=_check_max_retries)
    initial_delay: float = attrs.field(default=0.5, validator=_check_delay)
    max_delay: float = attrs.field(default=5.0, validator=_check_delay)
    jitter: Callable[[float], float] = default_jitter
    sleep: Callable[[float], object] = time.sleep

    def delay(self, retry_number: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry ``retry_number`` (1-based), or None to give up.

        None when retries are exhausted or the issuer asked for a pause longer than
        :data:`MAX_RETRY_AFTER`.
        """
        if retry_number > self.max_retries:
            return None
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            return None
        base = min(self.initial_delay * 2 ** (retry_number - 1), self.max_delay)
        delay = max(self.jitter(base), 0.0)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay
