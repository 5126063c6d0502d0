"""Every ``>>>`` example in the package's docstrings runs (they are documentation too)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import paylater_sdk


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(paylater_sdk.__path__, "paylater_sdk."):
        if ".migrations." in info.name:
            continue
        module = importlib.import_module(info.name)
        examples = [e for t in doctest.DocTestFinder().find(module) for e in t.examples]
        if any(not e.options.get(doctest.SKIP) for e in examples):  # "+SKIP" marks fragments
            names.append(info.name)
    return names


MODULES = _modules_with_examples()


def test_the_examples_are_found() -> None:
    assert {"paylater_sdk.installments", "paylater_sdk.money", "paylater_sdk.lifecycle"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
