"""What every ``paylater`` command shares: one-line errors and a help listing that fits.

A user's mistake (a typo in a flag, a folder that cannot be written, a database URL that
does not parse) gets exactly one line on stderr, ``Error: ...``, naming the flag to change,
and exit status 2 for usage or 1 for an operation that failed. Tracebacks are for bugs.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

#: Exit status of a usage error (bad flag or value), as click uses it.
USAGE = 2
#: Exit status of an operation that failed (file system, database, ledger check).
FAILED = 1


def fail(message: str, code: int = USAGE) -> NoReturn:
    """Print ``Error: message`` on one line of stderr and exit with ``code``."""
    one_line = " ".join(message.split())
    click.echo(f"Error: {one_line}", err=True)
    sys.exit(code)


def os_error_text(exc: OSError) -> str:
    """``strerror`` of an OSError in words, without Python's ``[Errno N]`` prefix."""
    return exc.strerror or os.strerror(exc.errno or 0) or type(exc).__name__


def passphrase_from_env(option: str, variable: str | None) -> bytes | None:
    """The passphrase held by the environment variable named by ``option`` (None if unset)."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        fail(f"{option}: the environment variable {variable} is empty or unset")
    return value.encode("utf-8")


class OneLineGroup(click.Group):
    """A group whose command list shows each command's whole first sentence on one line.

    click cuts short help at 45 characters, mid-sentence (``... (ports on...``); the
    commands' first sentences are kept short instead, and a test checks they fit 80
    columns. A group called without a command answers with one line naming its commands.
    """

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            width = max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                for name, text in rows:  # never wrapped: one line per command
                    formatter.write(f"{'':>{formatter.current_indent}}{name:<{width}}  {text}\n")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and ctx.parent is not None:
            names = ", ".join(self.list_commands(ctx))
            fail(f"missing command: one of {names} (see '{ctx.command_path} --help')")
        return super().parse_args(ctx, args)


def run_one_line(main: Callable[[], Any]) -> NoReturn:
    """Run ``main`` (a command's non-standalone ``main``) like click's standalone mode,
    except that every error is a single line."""
    try:
        result = main()
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        sys.exit(0)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except click.Abort:
        fail("aborted", FAILED)
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # `paylater ... | head`: the reader went away
            sys.exit(FAILED)
        where = f" ({exc.filename})" if exc.filename else ""
        fail(f"{os_error_text(exc)}{where}", FAILED)
    sys.exit(result if isinstance(result, int) else 0)
