"""A page of a list (``client.checkouts.list(...)``) and its lazy auto paging.

``Page.data`` is one page, newest first; ``auto_paging_iter()`` walks on from it, asking
for the next page only when the current one is used up and keeping every filter. It is
iterated with ``for`` on a ``PayLaterClient``'s page and with ``async for`` on an
``AsyncPayLaterClient``'s (the same class: the page knows which client made it).

Direction: a list fetched with ``ending_before`` (objects newer than a cursor) pages on
towards newer objects and yields them oldest first (what a catch-up loop wants); any other
list pages towards older objects and yields them newest first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import attrs


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


@attrs.frozen
class Page(Generic[T]):
    """One page of a list: ``data`` (newest first) and whether more lie beyond it."""

    data: tuple[T, ...]
    has_more: bool
    #: Fetches the page after this one, given the cursor parameter (a Page or an awaitable).
    _fetch: Callable[[dict[str, str]], Any] = attrs.field(repr=False, eq=False, alias="fetch")
    _is_async: bool = attrs.field(repr=False, eq=False, alias="is_async")
    _newer: bool = attrs.field(default=False, repr=False, eq=False, alias="newer")

    def __iter__(self) -> Iterator[T]:
        """This page's objects only (``auto_paging_iter()`` walks the whole list)."""
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def _ordered(self) -> tuple[T, ...]:
        return tuple(reversed(self.data)) if self._newer else self.data

    def _next_cursor(self) -> dict[str, str] | None:
        if not self.has_more or not self.data:
            return None
        if self._newer:
            return {"ending_before": self.data[0].id}
        return {"starting_after": self.data[-1].id}

    def auto_paging_iter(self) -> PageIterator[T]:
        """Every object from this page on, fetching each next page lazily."""
        return PageIterator(self)


class PageIterator(Generic[T]):
    """Iterate with ``for`` (sync client) or ``async for`` (async client)."""

    def __init__(self, first: Page[T]) -> None:
        self._page = first
        self._items = list(first._ordered())

    def __iter__(self) -> Iterator[T]:
        if self._page._is_async:
            raise TypeError("a page of AsyncPayLaterClient is iterated with 'async for'")
        while True:
            while self._items:
                yield self._items.pop(0)
            cursor = self._page._next_cursor()
            if cursor is None:
                return
            self._page = self._page._fetch(cursor)
            self._items = list(self._page._ordered())

    def __aiter__(self) -> AsyncIterator[T]:
        if not self._page._is_async:
            raise TypeError("a page of PayLaterClient is iterated with 'for', not 'async for'")
        return self._walk()

    async def _walk(self) -> AsyncIterator[T]:
        while True:
            while self._items:
                yield self._items.pop(0)
            cursor = self._page._next_cursor()
            if cursor is None:
                return
            self._page = await self._page._fetch(cursor)
            self._items = list(self._page._ordered())
