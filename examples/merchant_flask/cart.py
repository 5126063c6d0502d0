"""The cart lives in the signed session as ``{product_id: quantity}``; prices never do."""

from __future__ import annotations

from typing import Any

import attrs
from flask import session

from paylater_sdk.money import Money

from .catalog import MAX_QUANTITY, Product, get_product

__all__ = ["CartLine", "cart_lines", "cart_total", "clear_cart", "set_quantity"]


@attrs.frozen
class CartLine:
    product: Product
    quantity: int

    @property
    def subtotal(self) -> Money:
        return self.product.price * self.quantity

    def to_record(self) -> dict[str, Any]:
        return {
            "product_id": self.product.id,
            "name": self.product.name,
            "quantity": self.quantity,
            "unit_minor": self.product.price.minor,
        }


def _raw() -> dict[str, int]:
    raw = session.get("cart")
    return dict(raw) if isinstance(raw, dict) else {}


def set_quantity(product_id: str, quantity: int, *, add: bool = False) -> None:
    if get_product(product_id) is None:
        raise KeyError(product_id)
    cart = _raw()
    new = (cart.get(product_id, 0) if add else 0) + quantity
    new = max(0, min(MAX_QUANTITY, new))
    if new:
        cart[product_id] = new
    else:
        cart.pop(product_id, None)
    session["cart"] = cart


def cart_lines() -> list[CartLine]:
    lines = []
    for product_id, quantity in _raw().items():
        product = get_product(product_id)
        if product is not None and isinstance(quantity, int) and 0 < quantity <= MAX_QUANTITY:
            lines.append(CartLine(product, quantity))
    return lines


def cart_total(lines: list[CartLine]) -> Money | None:
    if not lines:
        return None
    return sum((line.subtotal for line in lines[1:]), lines[0].subtotal)


def clear_cart() -> None:
    session.pop("cart", None)
