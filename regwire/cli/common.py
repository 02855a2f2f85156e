"""What the command's families of subcommands share: the common flags, the client settings,
registries.conf, exit codes, the usage error, and how answers and warnings are printed.

Each family (`read`, `manage`, `artifacts`, `copy`) imports from here and from nowhere else in
the package, so that a family can be read, changed or moved alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..drivers.places import reading_places, writing_place
from ..drivers.sync import Client
from ..sansio.auth import Credentials
from ..sansio.errors import (
    AuthenticationError,
    MissingExtra,
    NetworkError,
    NotFound,
    RegistryNotFound,
    SignatureRejected,
)
from ..sansio.reference import Reference
from ..sansio.registries_conf import BlockedRegistry, RegistriesConf

__all__ = [
    "EXIT_AUTH",
    "EXIT_BLOCKED",
    "EXIT_NETWORK",
    "EXIT_NOT_FOUND",
    "EXIT_USAGE",
    "Subcommand",
    "UsageError",
    "client",
    "client_kwargs",
    "common_flags",
    "exit_code",
    "named",
    "on_one_reference",
    "parse_creds",
    "print_json",
    "registries_conf",
    "report",
    "warn",
]

EXIT_NOT_FOUND, EXIT_AUTH, EXIT_NETWORK, EXIT_USAGE, EXIT_BLOCKED = 3, 4, 5, 2, 6


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit 2)."""


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One subcommand: how it declares its arguments, and how it runs.

    The package assembles the parser from these and dispatches by ``name`` through one table,
    so a new subcommand is a new entry in its family's module, not a new branch elsewhere.
    """

    name: str
    # (the subparsers of the parser, the parent parser of the common flags) -> None
    add: Callable[[Any, argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def common_flags() -> argparse.ArgumentParser:
    """The flags every subcommand that talks to a registry takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--creds", metavar="USER[:PASS]", help="credentials for the registry")
    common.add_argument("--authfile", metavar="PATH", help="a Docker config.json or auth.json")
    common.add_argument("--insecure", action="store_true", help="allow plain http, skip TLS checks")
    common.add_argument(
        "--tls-verify", default="true", choices=["true", "false"], help="verify TLS (default true)"
    )
    common.add_argument("--cert-dir", metavar="DIR", help="CA (*.crt) and client certs for TLS")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds to connect and read")
    common.add_argument("--debug", action="store_true", help="log requests; show tracebacks")
    common.add_argument(
        "--registries-conf",
        metavar="FILE",
        help="containers-registries.conf(5) to apply (default: podman's files)",
    )
    return common


def parse_creds(text: str) -> Credentials:
    """``USER[:PASS]`` as given to ``--creds``."""
    user, _, password = text.partition(":")
    return Credentials(user, password)


def client_kwargs(args: argparse.Namespace, registries: list[str]) -> dict[str, Any]:
    """Client settings from the common options.

    ``--creds`` names one account on one registry: given for images on several registries it
    would send that password to all of them, so that is refused (host names compare
    case-insensitively). The client sends it only to the host named, never to a mirror or a
    location registries.conf rewrites the name to.
    """
    credentials = None
    if args.creds is not None:
        named = sorted({name.lower() for name in registries})
        if len(named) > 1:
            raise UsageError(
                f"--creds is for one registry, and the images name {len(named)} "
                f"({', '.join(named)}); run one command per registry, or use --authfile"
            )
        credentials = parse_creds(args.creds)
    insecure = registries if args.insecure or args.tls_verify == "false" else []
    return {
        "credentials": credentials,
        "auth_file": args.authfile,
        "insecure_registries": insecure,
        "cert_dir": args.cert_dir,
        "timeout": args.timeout,
    }


def registries_conf(args: argparse.Namespace) -> RegistriesConf | None:
    """registries.conf as podman reads it, or the file --registries-conf names."""
    from ..drivers.registries_conf import load_registries_conf

    return load_registries_conf(getattr(args, "registries_conf", None))


def client(args: argparse.Namespace, registry: str, sources: list[str] | None = None) -> Client:
    """A blocking client for ``registry`` (and, with --insecure, the places in ``sources``)."""
    kwargs = client_kwargs(args, [registry])
    if sources and kwargs["insecure_registries"]:
        kwargs["insecure_registries"] = [*kwargs["insecure_registries"], *sources]
    return Client(**kwargs, registries_conf=registries_conf(args))


def named(args: argparse.Namespace, text: str, *, writing: bool) -> tuple[str, list[str]]:
    """Where the command goes for ``text`` under registries.conf: the primary name (the
    registry itself for a read, the rewritten location for a write; a blocked name is refused
    here, before any request), and the registries of every place (mirrors included), for
    --insecure. The client is given ``text`` as typed and applies the same rules."""
    conf = registries_conf(args)
    if conf is None:
        return text, []
    if writing:
        place = writing_place(conf, text)
        return str(place.reference), [place.reference.registry]
    places = reading_places(conf, text)
    return str(places[-1].reference), [place.reference.registry for place in places]


def on_one_reference(
    args: argparse.Namespace,
    action: Callable[[Client, Reference, str], None],
    *,
    writing: bool = False,
) -> int:
    """Run ``action(client, ref, text)`` for the subcommands about one reference
    (``args.image``): ``ref`` is where registries.conf sends it, ``text`` the name as typed,
    by which reads go, so that registries.conf's mirrors and short names apply to them. The
    registry's warnings are printed whatever happens."""
    primary, sources = named(args, args.image, writing=writing)
    ref = Reference.parse(primary)
    typed = Reference.parse(args.image.removeprefix("docker://")).registry
    with client(args, typed, [ref.registry, *sources]) as chosen:
        try:
            action(chosen, ref, args.image)
        finally:
            warn(chosen.warnings)
    return 0


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (anything JSON does not know, as its ``str``)."""
    sys.stdout.write(json.dumps(value, indent=4, default=str) + "\n")


def warn(warnings: list[tuple[str, str]]) -> None:
    """Each registry warning once on stderr, as the distribution spec asks clients to."""
    for registry, text in warnings:
        sys.stderr.write(f"regwire: warning from {registry}: {text}\n")


def report(exc: BaseException, args: argparse.Namespace) -> int:
    """Say what failed on stderr (with the traceback under --debug); its exit code."""
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    sys.stderr.write(f"regwire: {exc}\n")
    return exit_code(exc)


def exit_code(exc: BaseException) -> int:
    """The exit code that says what kind of failure ``exc`` is (see the package's docstring)."""
    if isinstance(exc, RegistryNotFound):
        # Unreachable (refused): "try again later", not "it is not there", for a script.
        return EXIT_NETWORK
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, NetworkError):
        return EXIT_NETWORK
    if isinstance(exc, (BlockedRegistry, SignatureRejected)):
        return EXIT_BLOCKED
    if isinstance(exc, MissingExtra):
        return EXIT_USAGE  # what to install is in the message
    return 1
