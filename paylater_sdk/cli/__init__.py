"""The ``paylater`` command line.

Each command group lives in its own module and is loaded lazily, so ``paylater plan``
starts without importing Flask or SQLAlchemy (which only the issuer commands need).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

# command name -> "module:attribute" of a click.Command, loaded on first use.
_COMMANDS: dict[str, str] = {
    "plan": "paylater_sdk.cli.plan:plan",
    "keys": "paylater_sdk.cli.keys:keys",
    "issuer": "paylater_sdk.cli.issuer:issuer",
    "demo": "paylater_sdk.cli.demo:demo",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in _COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A command whose module is not written yet, or whose extra is not installed.
            if exc.name == module_name:
                return None
            raise click.ClickException(
                f"'paylater {name}' needs an optional dependency ({exc.name}); "
                "install it with: pip install 'paylater-sdk[issuer]'"
            ) from exc
        command: Any = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paylater-sdk", prog_name="paylater")
def main() -> None:
    """paylater: pay-later checkout tools (plans, keys, mock issuer, demo)."""
