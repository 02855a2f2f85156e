"""The subcommands that keep an account: ``login`` and ``logout``.

``login`` checks the account against the registry before it saves anything (as ``docker
login`` does; `regwire.sansio.login`), so that a typo is an exit 4 now, not a stale entry that
breaks the next pull; then it saves it where the next command reads first
(`regwire.drivers.logins`). The password comes from stdin (``--password-stdin``, for scripts),
a prompt on a terminal, or ``-p``, which works but says on stderr that other users can read it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..drivers.logins import erase_login, store_login
from ..drivers.sync import Client
from ..sansio.auth import Credentials
from ..sansio.login import check_login
from ..sansio.names import normalize_registry_name
from ..sansio.registry import Registry
from .common import Subcommand, UsageError, registries_conf

__all__ = ["SUBCOMMANDS"]

PASSWORD_ON_COMMAND_LINE = (
    "regwire: warning: a password given with -p can be read by other users of this machine "
    "(ps, shell history); use --password-stdin\n"
)


def _account_flags() -> argparse.ArgumentParser:
    """The flags of login and logout: where to save, and how to reach the registry."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("registry", metavar="REGISTRY", help="host[:port] (docker.io for Hub)")
    flags.add_argument(
        "--authfile", metavar="FILE", help="save in this auth.json alone (podman's --authfile)"
    )
    flags.add_argument(
        "--registries-conf",
        metavar="FILE",
        help="containers-registries.conf(5) to apply (default: podman's files)",
    )
    return flags


def _refuse_blocked(args: argparse.Namespace) -> None:
    """A registry registries.conf blocks is refused before any prompt or request (exit 6), as
    every other command refuses it."""
    conf = registries_conf(args)
    if conf is not None:
        conf.push_source(args.registry)  # BlockedRegistry


def _add_login(sub: Any, common: argparse.ArgumentParser) -> None:
    login = sub.add_parser(
        "login",
        parents=[_account_flags()],
        help="check an account against a registry, then save it",
    )
    login.add_argument("-u", "--username", required=True, metavar="USER")
    secret = login.add_mutually_exclusive_group()
    secret.add_argument("-p", "--password", metavar="PASSWORD", help="(prefer --password-stdin)")
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    login.add_argument("--insecure", action="store_true", help="allow plain http, skip TLS checks")
    login.add_argument(
        "--tls-verify", default="true", choices=["true", "false"], help="verify TLS (default true)"
    )
    login.add_argument("--cert-dir", metavar="DIR", help="CA (*.crt) and client certs for TLS")
    login.add_argument("--timeout", type=float, default=30.0, help="seconds to connect and read")
    login.add_argument("--debug", action="store_true", help="log requests; show tracebacks")


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        sys.stderr.write(PASSWORD_ON_COMMAND_LINE)
        return str(args.password)
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    raise UsageError("no password: give --password-stdin and pipe it in, or run on a terminal")


def _login(args: argparse.Namespace) -> int:
    normalize_registry_name(args.registry)  # InvalidReference (exit 2) before any prompt
    _refuse_blocked(args)
    password = _password(args)
    if not password:
        raise UsageError("the password is empty")
    credentials = Credentials(args.username, password)
    insecure = args.insecure or args.tls_verify == "false"
    registry = Registry(args.registry, insecure=insecure, credentials=credentials)
    with Client(cert_dir=args.cert_dir, timeout=args.timeout) as client:
        client.run(check_login(registry.session))
    place = store_login(args.registry, credentials, auth_file=args.authfile)
    sys.stderr.write(f"regwire: saved in {place}\n")
    sys.stdout.write("Login Succeeded\n")
    return 0


def _add_logout(sub: Any, common: argparse.ArgumentParser) -> None:
    logout = sub.add_parser(
        "logout",
        parents=[_account_flags()],
        help="erase a registry's account from every file and helper that holds it",
    )
    logout.add_argument("--debug", action="store_true", help="show tracebacks")


def _logout(args: argparse.Namespace) -> int:
    normalize_registry_name(args.registry)
    places = erase_login(args.registry, auth_file=args.authfile)
    if not places:
        sys.stderr.write(f"regwire: not logged in to {args.registry}: nothing to erase\n")
        return 0
    sys.stdout.write(f"Removed login credentials for {args.registry} from {', '.join(places)}\n")
    return 0


SUBCOMMANDS = (
    Subcommand("login", _add_login, _login),
    Subcommand("logout", _add_logout, _logout),
)
