"""Layer contracts: layers import downward only (docs/architecture.md).

- the core (money, installment plans, signing, errors, the shared enums) knows nothing of
  HTTP frameworks, databases, the client, the issuer, the testing kit or the CLI;
- the client knows nothing of Flask, databases or the issuer;
- the issuer's domain (everything but its web modules) imports no Flask or Werkzeug;
- the example shop uses only public names of paylater_sdk, like any merchant;
- only the demo command reaches into examples/.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "paylater_sdk"

CORE = {"money", "installments", "signing", "errors", "lifecycle"}
#: The issuer's layers: only web/ (and the app factory in issuer/__init__) know Flask.
ISSUER_BELOW_WEB = ("domain", "storage", "delivery")
FRAMEWORKS = ("flask", "werkzeug", "jinja2", "waitress")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> Iterator[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = (module or _module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in paths:
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def _core_files() -> list[Path]:
    files = []
    for name in CORE:
        single = PACKAGE / f"{name}.py"
        folder = PACKAGE / name
        files += [single] if single.exists() else sorted(folder.rglob("*.py"))
    assert len(files) >= len(CORE)
    return files


def test_the_core_imports_no_outer_layer() -> None:
    outer = ("paylater_sdk.client", "paylater_sdk.issuer", "paylater_sdk.testing",
             "paylater_sdk.cli", "requests", "sqlalchemy", *FRAMEWORKS)  # fmt: skip
    assert _violations(_core_files(), outer) == []


def test_the_client_knows_nothing_of_the_issuer_or_flask() -> None:
    files = sorted((PACKAGE / "client").rglob("*.py"))
    forbidden = ("paylater_sdk.issuer", "paylater_sdk.testing", "paylater_sdk.cli", "sqlalchemy")
    assert _violations(files, (*forbidden, *FRAMEWORKS)) == []


def test_the_issuer_domain_imports_no_web_framework() -> None:
    files = [
        p for layer in ISSUER_BELOW_WEB for p in sorted((PACKAGE / "issuer" / layer).rglob("*.py"))
    ]
    assert len(files) > 20
    assert _violations(files, FRAMEWORKS) == []


def test_the_issuer_layers_import_downward() -> None:
    """storage knows no domain, delivery or web; domain and delivery know no web."""
    issuer = PACKAGE / "issuer"
    storage = sorted((issuer / "storage").rglob("*.py"))
    below_web = [
        p for layer in ("domain", "delivery") for p in sorted((issuer / layer).rglob("*.py"))
    ]
    up = ("paylater_sdk.issuer.domain", "paylater_sdk.issuer.delivery", "paylater_sdk.issuer.web")
    assert _violations(storage, up) == []
    assert _violations(below_web, ("paylater_sdk.issuer.web",)) == []


def test_the_shop_uses_only_public_names() -> None:
    private = []
    for path in sorted((ROOT / "examples").rglob("*.py")):
        for name in _imports(path):
            if name.startswith("paylater_sdk") and any(
                part.startswith("_") for part in name.split(".")
            ):
                private.append(f"{path.relative_to(ROOT)} imports {name}")
            if name.split(".")[:2] in (["paylater_sdk", "issuer"], ["paylater_sdk", "cli"]):
                private.append(f"{path.relative_to(ROOT)} imports {name}")
    assert private == []


def test_only_the_demo_reaches_into_the_examples() -> None:
    users = {
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        for name in _imports(path)
        if name == "examples" or name.startswith("examples.")
    }
    assert users == {"paylater_sdk/cli/demo.py"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..money import Money", "paylater_sdk.money"),
        ("from . import ledger", "paylater_sdk.issuer.ledger"),
        ("import flask", "flask"),
        ("importlib.import_module('examples.merchant_flask')", "examples.merchant_flask"),
    ],
)
def test_the_scanner_resolves_imports(tmp_path: Path, source: str, expected: str) -> None:
    """The checks above would pass vacuously if imports were not found."""
    probe = tmp_path / "probe.py"
    probe.write_text(source + "\n", encoding="utf-8")
    assert expected in set(_imports(probe, "paylater_sdk.issuer.probe"))
