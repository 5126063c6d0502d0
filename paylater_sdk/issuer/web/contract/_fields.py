"""Field rules of the request contract: each one validates in pydantic-core and words its refusal.

A rule is used as ``Annotated[str, Text(64)]`` on a model field. It gives pydantic the core
schema to validate with (compiled to Rust: the fast path runs no Python per field, money
excepted), the JSON Schema the OpenAPI document shows, and :meth:`Rule.problem`: the exact
refusal (code, message, ``field``) the API has always answered for a bad value. The
refusal is only worked out on the slow path, after pydantic said no, so the wording costs a
valid request nothing; tests/issuer/web/test_contract.py holds both halves to each other.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from ....errors import InvalidRequestError, MoneyError
from ....money import CURRENCY_EXPONENTS, Money
from ..wire import MAX_MINOR, bad

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: No control characters (the Rust regex and ECMA-262 read it alike).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class Rule:
    """What every field rule provides: a core schema and the refusal of a bad value."""

    def core(self, handler: GetCoreSchemaHandler) -> CoreSchema:
        raise NotImplementedError

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        """The refusal of ``value`` for the field ``name``, or None if it is acceptable."""
        raise NotImplementedError

    def json(self, schema: JsonSchemaValue) -> JsonSchemaValue:
        """The JSON Schema to publish, from the one pydantic derived (default: as is)."""
        return schema

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return self.core(handler)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return self.json(handler(schema))


@attrs.frozen
class Text(Rule):
    """A non-empty string of at most ``max_len`` characters and no control characters.

    ``pattern`` (full match) replaces the control-character rule in the core schema, so it
    must exclude them itself (the trade-number and phone patterns do); the published
    schema then shows the pattern alone, which states the length too.
    """

    max_len: int
    pattern: str | None = None

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        return core_schema.str_schema(
            strict=True,
            min_length=1,
            max_length=self.max_len,
            pattern=f"^{self.pattern}$" if self.pattern else NO_CONTROL,
        )

    def json(self, schema: JsonSchemaValue) -> JsonSchemaValue:
        if self.pattern:
            return {"type": "string", "pattern": f"^{self.pattern}$"}
        return schema

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        if not isinstance(value, str) or not value:
            return bad("INVALID_FIELD", f"{name} must be a non-empty string", field=name)
        if len(value) > self.max_len:
            return bad(
                "INVALID_FIELD", f"{name} is longer than {self.max_len} characters", field=name
            )
        if _CONTROL.search(value):
            return bad("INVALID_FIELD", f"{name} contains control characters", field=name)
        if self.pattern and not re.fullmatch(self.pattern, value):
            return bad("INVALID_FIELD", f"{name} must match {self.pattern}", field=name)
        return None


@attrs.frozen
class OptionalText(Rule):
    """Like :class:`Text`, or JSON ``null``."""

    max_len: int

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        return core_schema.nullable_schema(Text(self.max_len).core())

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        return None if value is None else Text(self.max_len).problem(name, value)


@attrs.frozen
class Url(Rule):
    """An ``http://`` or ``https://`` URL of at most 512 characters."""

    max_len: int = 512

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        return core_schema.str_schema(
            strict=True,
            min_length=1,
            max_length=self.max_len,
            pattern=r"^https?://[^\x00-\x1f\x7f]*$",
        )

    def json(self, schema: JsonSchemaValue) -> JsonSchemaValue:
        return {"type": "string", "format": "uri", "maxLength": self.max_len}

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        refused = Text(self.max_len).problem(name, value)
        if refused is None and not value.startswith(("http://", "https://")):
            refused = bad("INVALID_FIELD", f"{name} must be an http(s) URL", field=name)
        return refused


@attrs.frozen
class Integer(Rule):
    """A JSON integer (never a bool or a number with a fraction) from ``low`` to ``high``."""

    low: int
    high: int

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        return core_schema.int_schema(strict=True, ge=self.low, le=self.high)

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and self.low <= value <= self.high:
            return None
        return bad(
            "INVALID_FIELD",
            f"{name} must be an integer from {self.low} to {self.high}",
            field=name,
        )


@attrs.frozen
class Flag(Rule):
    """JSON ``true`` or ``false``."""

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        return core_schema.bool_schema(strict=True)

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        if isinstance(value, bool):
            return None
        return bad("INVALID_FIELD", f"{name} must be true or false", field=name)


@attrs.frozen
class Choice(Rule):
    """One of ``values`` (``fold_case``: in any case, answered upper-cased)."""

    values: tuple[str, ...]
    wording: str
    fold_case: bool = False

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        if not self.fold_case:
            return core_schema.literal_schema(list(self.values))
        return core_schema.no_info_after_validator_function(
            self._folded, core_schema.str_schema(strict=True)
        )

    def _folded(self, value: str) -> str:
        upper = value.upper()
        if upper not in self.values:
            raise ValueError(self.wording)
        return upper

    def json(self, schema: JsonSchemaValue) -> JsonSchemaValue:
        return {"type": "string", "enum": list(self.values)}

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        if self.fold_case:
            found = isinstance(value, str) and value.upper() in self.values
        else:
            found = value in self.values
        return None if found else bad("INVALID_FIELD", f"{name} {self.wording}", field=name)


@attrs.frozen
class PlanIds(Rule):
    """A list of 1 to 20 plan ids."""

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        return core_schema.list_schema(Text(64).core(), min_length=1, max_length=20, strict=True)

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        if not isinstance(value, list) or not 1 <= len(value) <= 20:
            return bad("INVALID_FIELD", f"{name} must be a list of 1 to 20 plan ids", field=name)
        for item in value:
            refused = Text(64).problem(name, item)
            if refused is not None:
                return refused
        return None


METADATA_KEYS, METADATA_KEY_LEN, METADATA_VALUE_LEN = 20, 40, 500


@attrs.frozen
class MetadataRule(Rule):
    """Up to 20 string keys (1 to 40 characters) with string values (up to 500)."""

    def core(self, handler: GetCoreSchemaHandler | None = None) -> CoreSchema:
        key = core_schema.str_schema(
            strict=True, min_length=1, max_length=METADATA_KEY_LEN, pattern=NO_CONTROL
        )
        value = core_schema.str_schema(
            strict=True, max_length=METADATA_VALUE_LEN, pattern=NO_CONTROL
        )
        return core_schema.dict_schema(key, value, max_length=METADATA_KEYS, strict=True)

    def json(self, schema: JsonSchemaValue) -> JsonSchemaValue:
        return {
            "type": "object",
            "maxProperties": METADATA_KEYS,
            "propertyNames": {"minLength": 1, "maxLength": METADATA_KEY_LEN},
            "additionalProperties": {"type": "string", "maxLength": METADATA_VALUE_LEN},
        }

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        if not isinstance(value, dict):
            return bad("INVALID_FIELD", f"{name} must be an object of strings", field=name)
        if len(value) > METADATA_KEYS:
            return bad("INVALID_FIELD", f"{name} has more than {METADATA_KEYS} keys", field=name)
        for key, item in value.items():
            shown = repr(key[:METADATA_KEY_LEN])
            if not key or len(key) > METADATA_KEY_LEN or _CONTROL.search(key):
                return bad(
                    "INVALID_FIELD",
                    f"{name} keys must be 1 to {METADATA_KEY_LEN} characters without control "
                    f"characters (key {shown})",
                    field=name,
                )
            if not isinstance(item, str):
                return bad("INVALID_FIELD", f"{name}[{shown}] must be a string", field=name)
            if len(item) > METADATA_VALUE_LEN or _CONTROL.search(item):
                return bad(
                    "INVALID_FIELD",
                    f"{name}[{shown}] must be at most {METADATA_VALUE_LEN} characters without "
                    "control characters",
                    field=name,
                )
        return None


@attrs.frozen
class Amount(Rule):
    """Money in wire form (``wire``: the model of ``{"value", "currency"}``), as a Money.

    The integer range is checked in pydantic-core; the currency (any case, surrounding
    spaces allowed, as ``Money.from_json`` always took it) by building the Money.
    """

    wire: type[BaseModel]
    low: int
    out_of_range: str

    def core(self, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            _to_money, handler.generate_schema(self.wire)
        )

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        try:
            amount = Money.from_json(value)
        except (MoneyError, TypeError, ValueError) as exc:
            return bad("INVALID_AMOUNT", f"{name}: {exc}", field=name)
        if not self.low <= amount.minor <= MAX_MINOR:
            return bad("INVALID_AMOUNT", f"{name} {self.out_of_range}", field=name)
        return None


@attrs.frozen
class MonthlyAmount(Amount):
    """A declared monthly amount in CNY: zero allowed, up to ``high`` minor units.

    Above ``high`` (¥10,000,000 a month by default) a figure is a typo or a probe, not an
    income; another currency is a ``CURRENCY_MISMATCH``, as everywhere else.
    """

    high: int = 10_000_000_00

    def core(self, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._in_range, super().core(handler))

    def _in_range(self, amount: Money) -> Money:
        if amount.currency != "CNY" or not 0 <= amount.minor <= self.high:
            raise ValueError("not a monthly CNY amount")
        return amount

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        try:
            amount = Money.from_json(value)
        except (MoneyError, TypeError, ValueError) as exc:
            return bad("INVALID_AMOUNT", f"{name}: {exc}", field=name)
        if amount.currency != "CNY":
            return bad("CURRENCY_MISMATCH", f"{name} must be in CNY", field=name)
        if not 0 <= amount.minor <= self.high:
            return bad("INVALID_AMOUNT", f"{name} must be 0 to {self.high} fen a month", field=name)
        return None


@attrs.frozen
class Nested(Rule):
    """A JSON object validated by its own body model; a refusal names ``outer.inner``."""

    model: type[BaseModel]

    def core(self, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(self.model)

    def problem(self, name: str, value: Any) -> InvalidRequestError | None:
        if not isinstance(value, dict):
            return bad("INVALID_FIELD", f"{name} must be an object", field=name)
        from ._validate import validate  # the validator builds on these rules

        try:
            validate(self.model, value)
        except InvalidRequestError as refused:
            refused.field = f"{name}.{refused.field}" if refused.field else name
            return refused
        return None


def _to_money(wire: Any) -> Money:
    if wire.currency in CURRENCY_EXPONENTS:
        # A canonical code and an integer pydantic-core already bounded: the plan engine's
        # trusted constructor builds the same Money as from_minor, in a fifth of the time.
        return Money._of_minor(wire.value, wire.currency)
    return Money.from_minor(wire.value, wire.currency)  # MoneyError is a ValueError


def rule_of(metadata: list[Any]) -> Rule | None:
    """The rule among a field's metadata (None for a field declared without one)."""
    for item in metadata:
        if isinstance(item, Rule):
            return item
    return None
