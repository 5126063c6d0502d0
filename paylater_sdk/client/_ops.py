"""One definition per service method, run synchronously or awaited.

A service method is written once, as a generator over the sans-I/O core (it yields the
effects of :meth:`Requester.call`). :class:`operation` binds it to the service's runner:
on a ``PayLaterClient`` it returns the model, on an ``AsyncPayLaterClient`` a coroutine of
the model; mypy sees both signatures (``Service[Sync]`` / ``Service[Async]``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from ._effects import Op
from ._requester import Requester

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound="Mode")
S = TypeVar("S", bound="Service[Any]")


class Mode:
    """How a service runs its operations (a type parameter only)."""


class Sync(Mode):
    """Operations return their result (``PayLaterClient``)."""


class Async(Mode):
    """Operations return a coroutine (``AsyncPayLaterClient``)."""


class Runner(Protocol):
    """What a service needs from its client: ``run(op)`` (a result, or an awaitable)."""

    is_async: bool

    def run(self, op: Op[Any]) -> Any: ...


class Service(Generic[M]):
    """A thin object over the client's shared core and runner (as stripe-python does)."""

    def __init__(self, core: Requester, runner: Runner) -> None:
        self._core = core
        self._runner = runner

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class operation(Generic[S, P, T]):  # noqa: N801 - used as a decorator, like property
    """Turn ``def method(self, ...) -> Op[T]`` into a method that runs it on the client."""

    def __init__(self, build: Callable[Concatenate[S, P], Op[T]]) -> None:
        self._build = build
        # What help() and the API reference show: the method's own name and docstring.
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__
        self.__qualname__ = build.__qualname__
        self.__module__ = build.__module__
        self.__wrapped__ = build

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> operation[S, P, T]: ...

    @overload
    def __get__(self, obj: Service[Sync], owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, obj: Service[Async], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self._build
        runner: Runner = obj._runner
        if runner.is_async:

            async def run_async(*args: Any, **kwargs: Any) -> Any:
                # Arguments are checked when awaited, like any coroutine's body.
                return await runner.run(build(obj, *args, **kwargs))

            return functools.update_wrapper(run_async, build)

        def run(*args: Any, **kwargs: Any) -> Any:
            return runner.run(build(obj, *args, **kwargs))

        return functools.update_wrapper(run, build)
