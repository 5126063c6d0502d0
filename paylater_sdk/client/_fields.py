"""Typed, error-naming access to the issuer's JSON: one place that turns a bad payload
into an :class:`~paylater_sdk.errors.APIError` saying which object and field is wrong."""

from __future__ import annotations

import types
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from ..errors import APIError, MoneyError
from ..money import Money


class Fields:
    """Typed access to one JSON object, naming the object and field in every error."""

    def __init__(self, data: object, kind: str) -> None:
        if not isinstance(data, Mapping):
            raise APIError(f"issuer sent a malformed {kind}: expected a JSON object")
        self.data: Mapping[str, Any] = data
        self.kind = kind

    def _fail(self, name: str, what: str) -> APIError:
        return APIError(f"issuer sent a malformed {self.kind}: field {name!r} {what}")

    def _get(self, name: str, optional: bool) -> Any:
        value = self.data.get(name)
        if value is None and not optional:
            raise self._fail(name, "is missing")
        return value

    def text(self, name: str) -> str:
        value = self._get(name, False)
        if not isinstance(value, str):
            raise self._fail(name, "must be a string")
        return value

    def opt_text(self, name: str) -> str | None:
        value = self._get(name, True)
        if value is not None and not isinstance(value, str):
            raise self._fail(name, "must be a string or null")
        return value

    def integer(self, name: str) -> int:
        value = self._get(name, False)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(name, "must be an integer")
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name, False)
        if not isinstance(value, bool):
            raise self._fail(name, "must be true or false")
        return value

    def money(self, name: str) -> Money:
        try:
            return Money.from_json(self._get(name, False))
        except MoneyError as exc:
            raise self._fail(name, f"is not a Money object ({exc.message})") from exc

    def opt_money(self, name: str) -> Money | None:
        return None if self.data.get(name) is None else self.money(name)

    def rate(self, name: str) -> Decimal:
        value = self._get(name, False)
        if not isinstance(value, str):
            raise self._fail(name, "must be a decimal string")
        try:
            dec = Decimal(value)
        except InvalidOperation:
            raise self._fail(name, "must be a decimal string") from None
        if not dec.is_finite():
            raise self._fail(name, "must be finite")
        return dec

    def time(self, name: str) -> datetime:
        value = self._get(name, False)
        if not isinstance(value, str):
            raise self._fail(name, "must be an RFC 3339 time string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self._fail(name, "must be an RFC 3339 time string") from None
        if parsed.tzinfo is None:
            raise self._fail(name, "must carry a UTC offset")
        return parsed

    def opt_time(self, name: str) -> datetime | None:
        return None if self.data.get(name) is None else self.time(name)

    def items(self, name: str) -> list[Any]:
        value = self._get(name, True)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(name, "must be a list")
        return value

    def obj(self, name: str) -> Mapping[str, Any] | None:
        value = self._get(name, True)
        if value is not None and not isinstance(value, Mapping):
            raise self._fail(name, "must be an object or null")
        return value


def frozen_raw(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(data))


def raw_field() -> Any:
    # The whole dict as received: forward compatibility without widening the typed surface.
    return attrs.field(eq=False, repr=False, factory=dict)
