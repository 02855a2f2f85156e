"""The ``regwire`` command: ask registries questions, get JSON answers.

Exit codes: 0 success, 2 usage, 3 not found, 4 authentication, 5 network, 6 blocked by
registries.conf, 1 anything else.
"""

# The package assembles the parser and dispatches: each family of subcommands lives in its own
# module (read, manage, copy, artifacts) and lists its subcommands in a SUBCOMMANDS table; what
# two families share lives in common, public there. No family imports another, nor this module.

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from ..sansio.errors import RegistryError
from . import archive, artifacts, copy, edit, keys, login, manage, read, trust
from .common import EXIT_USAGE, Subcommand, UsageError, common_flags, exit_code, report
from .read import skopeo_view

__all__ = ["SUBCOMMANDS", "exit_code", "main", "skopeo_view"]


def _add_demo(sub: Any, common: argparse.ArgumentParser) -> None:
    # The demo talks to its own model registry: none of the common flags apply.
    sub.add_parser("demo", help="run against a built-in model registry on loopback")


def _demo(args: argparse.Namespace) -> int:
    from ..testing.demo import run_demo

    return run_demo(main)


_HELP_ORDER = (
    "inspect",
    "tags",
    "manifest",
    "digest",
    "blob",
    "probe",
    "tag",
    "untag",
    "prune",
    "delete",
    "referrers",
    "copy",
    "save",
    "sync",
    "index",
    "mutate",
    "append",
    "convert",
    "flatten",
    "rebase",
    "catalog",
    "push",
    "pull",
    "login",
    "logout",
    "ratelimit",
    "sign",
    "verify",
    "generate-key",
)


def _in_order(*families: tuple[Subcommand, ...]) -> tuple[Subcommand, ...]:
    """Every family's subcommands in the order ``regwire --help`` has always listed them."""
    by_name = {command.name: command for family in families for command in family}
    return (*(by_name.pop(name) for name in _HELP_ORDER), *by_name.values())


# Every subcommand, in the order of --help: the one table the parser and the dispatch read.
SUBCOMMANDS = (
    *_in_order(
        read.SUBCOMMANDS,
        manage.SUBCOMMANDS,
        copy.SUBCOMMANDS,
        archive.SUBCOMMANDS,
        edit.SUBCOMMANDS,
        artifacts.SUBCOMMANDS,
        login.SUBCOMMANDS,
        keys.SUBCOMMANDS,
        trust.SUBCOMMANDS,
    ),
    Subcommand("demo", _add_demo, _demo),
)


def _parser() -> argparse.ArgumentParser:
    common = common_flags()
    parser = argparse.ArgumentParser(prog="regwire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.add(sub, common)
    return parser


def _run(args: argparse.Namespace) -> int:
    return next(c for c in SUBCOMMANDS if c.name == args.command).run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "debug", False):
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return _run(args)
    except ValueError as exc:  # InvalidReference and bad --platform are ValueErrors
        if isinstance(exc, RegistryError) and not isinstance(exc, ValueError):
            return report(exc, args)
        sys.stderr.write(f"regwire: {exc}\n")
        return EXIT_USAGE
    except RegistryError as exc:
        return report(exc, args)
    except UsageError as exc:
        sys.stderr.write(f"regwire: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:  # a file we were asked to write, or a path given
        if getattr(args, "debug", False):
            traceback.print_exception(exc)
        where = f" {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"regwire: cannot write{where}: {exc.strerror or exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
