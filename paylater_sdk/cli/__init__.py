"""The ``paylater`` command line.

Each command group lives in its own module and is loaded lazily, so ``paylater plan``
starts without importing Flask or SQLAlchemy (which only the issuer commands need).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import click

from ._common import OneLineGroup, run_one_line

__all__ = ["main"]

# command name -> "module:attribute" of a click.Command, loaded on first use.
_COMMANDS: dict[str, str] = {
    "plan": "paylater_sdk.cli.plan:plan",
    "keys": "paylater_sdk.cli.keys:keys",
    "issuer": "paylater_sdk.cli.issuer:issuer",
    "demo": "paylater_sdk.cli.demo:demo",
    "listen": "paylater_sdk.cli.listen:listen",
    "trigger": "paylater_sdk.cli.trigger:trigger",
    "bill": "paylater_sdk.cli.bill:bill",
}


# The root listing is written here, so that `paylater --help` stays one short line per
# command whatever the length of each command's own docstring.
_SHORT_HELP: dict[str, str] = {
    "plan": "Print an installment schedule, its totals and APR.",
    "keys": "Generate and inspect signing keys.",
    "issuer": "Run and administer the mock issuer.",
    "demo": "Run the mock issuer and the example shop on 127.0.0.1.",
    "listen": "Forward an issuer's new events to a local notify URL.",
    "trigger": "Make a test-mode issuer send an event.",
    "bill": "Download a day's trade bill, its hash checked.",
}


class _LazyGroup(OneLineGroup):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Standalone mode with one-line errors (see :mod:`paylater_sdk.cli._common`)."""

        def run() -> Any:
            return super(_LazyGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )

        if not standalone_mode:
            return run()
        run_one_line(run)

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
        command.short_help = _SHORT_HELP.get(name, command.short_help)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paylater-sdk", prog_name="paylater")
def main() -> None:
    """paylater: pay-later checkout tools (plans, keys, mock issuer, demo, events)."""
