"""Validate a parsed JSON body with its model; word a refusal the way the API always has.

The fast path is one ``model_validate`` call (pydantic-core). When it refuses, the refusal
reported is the first of: an unknown field (in the body's order), then each required
field in declaration order (missing, or the rule's wording of its bad value), then each
optional field present. That is the order and wording of the hand-written validators this
replaced; ``tests/issuer/web/test_contract.py`` checks it against them on generated bodies.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from ....errors import InvalidRequestError
from ....money import Money
from ..wire import bad
from ._bodies import POSITIVE, PositiveMoney
from ._fields import Rule, rule_of

M = TypeVar("M", bound=BaseModel)
_POSITIVE_MONEY: TypeAdapter[Money] = TypeAdapter(PositiveMoney)


def positive_amount(name: str, value: Any) -> Money:
    """A positive amount in wire form outside a body (a query's), refused like a field."""
    try:
        return _POSITIVE_MONEY.validate_python(value)
    except ValidationError:
        raise POSITIVE.problem(name, value) or bad(
            "INVALID_AMOUNT", f"{name} is not valid"
        ) from None


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    """``data`` (a parsed JSON object) as ``model``, or the 400 refusal of its first fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(model, data, exc) from None


@functools.cache
def _plan(model: type[BaseModel]) -> tuple[tuple[str, bool, Rule | None], ...]:
    """The model's fields in reporting order: required ones first, then optional ones."""
    items = [
        (name, info.is_required(), rule_of(info.metadata))
        for name, info in model.model_fields.items()
    ]
    return tuple(sorted(items, key=lambda item: not item[1]))


def refusal(
    model: type[BaseModel], data: Mapping[str, Any], exc: ValidationError
) -> InvalidRequestError:
    """The error to answer for a body ``model`` refused (``exc`` says why, in its words)."""
    for name in data:
        if name not in model.model_fields:
            return bad("UNKNOWN_FIELD", f"unknown field {name[:40]!r}", field=name[:40])
    for name, required, rule in _plan(model):
        if name not in data:
            if required:
                return bad("MISSING_FIELD", f"the field {name!r} is required", field=name)
            continue
        refused = rule.problem(name, data[name]) if rule is not None else None
        if refused is not None:
            return refused
    # The model and the wording disagree (a bug the contract tests exist to catch): still
    # a 400 naming the field, never a 500.
    first = exc.errors(include_url=False)[0]
    where = str(first["loc"][0]) if first["loc"] else None
    return bad("INVALID_FIELD", f"{where or 'the body'} is not valid", field=where)
