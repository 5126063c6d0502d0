"""The shop's catalogue: a few products with exact CNY prices.

Prices live on the server only; the cart stores product ids and quantities, so a tampered
form can never change what the buyer is charged.
"""

from __future__ import annotations

import attrs

from paylater_sdk.money import Money

__all__ = ["CATALOG", "MAX_QUANTITY", "Product", "get_product"]

#: Upper bound per cart line; keeps totals inside the issuer's plan range.
MAX_QUANTITY = 9


@attrs.frozen
class Product:
    id: str
    name: str
    name_en: str
    description: str
    price: Money
    glyph: str  # a one-character badge (emoji fonts are missing on many phones)


CATALOG: tuple[Product, ...] = (
    Product(
        id="tea-set",
        name="青瓷茶具套装",
        name_en="Celadon tea set",
        description="六件套青瓷茶具，手工烧制。 Six-piece hand-fired celadon tea set.",
        price=Money("599.00", "CNY"),
        glyph="茶",
    ),
    Product(
        id="headphones",
        name="降噪蓝牙耳机",
        name_en="Noise-cancelling earbuds",
        description="主动降噪，续航 30 小时。 Active noise cancelling, 30 h battery.",
        price=Money("1299.00", "CNY"),
        glyph="耳",
    ),
    Product(
        id="backpack",
        name="城市通勤双肩包",
        name_en="City commuter backpack",
        description="防泼水面料，可放 15 寸电脑。 Water-repellent, fits a 15-inch laptop.",
        price=Money("329.90", "CNY"),
        glyph="包",
    ),
)

_BY_ID = {p.id: p for p in CATALOG}


def get_product(product_id: str) -> Product | None:
    return _BY_ID.get(product_id)
