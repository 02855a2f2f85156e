"""The subcommand that makes a signing key pair: ``generate-key``.

It writes what ``cosign generate-key-pair`` writes, under the same names: ``PREFIX.key``, the
private key in cosign's encrypted format (PEM ``ENCRYPTED COSIGN PRIVATE KEY``, which skopeo 1.9
reads too), readable by its owner alone (0600), and ``PREFIX.pub``, the public key to give
``verify --key`` or a policy's ``keyPath``. The passphrase comes from where cosign looks
(`regwire.keys.obtain_passphrase`): ``--passphrase-file``, else ``COSIGN_PASSWORD``, else a
prompt asked twice on a terminal. An existing key is never overwritten unless ``--force``
says so (cosign asks on a terminal; a script gets a refusal, not a lost key).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from ..keys import generate_key, load_public_key, obtain_passphrase, require_sign_extra
from .common import Subcommand, UsageError, print_json

__all__ = ["SUBCOMMANDS"]


def _add_generate_key(sub: Any, common: argparse.ArgumentParser) -> None:
    # No registry is involved: none of the common flags apply.
    parser = sub.add_parser(
        "generate-key",
        help="make a cosign key pair: PREFIX.key (encrypted) and PREFIX.pub",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output-prefix",
        "--output-key-prefix",
        dest="output_prefix",
        default="cosign",
        metavar="PREFIX",
        help="write PREFIX.key and PREFIX.pub (default: cosign)",
    )
    parser.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help="the passphrase is this file's first line (else $COSIGN_PASSWORD, else a prompt)",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite PREFIX.key and PREFIX.pub if they exist"
    )
    parser.add_argument("--json", action="store_true", help="print the files and key as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _write(path: str, content: bytes, mode: int, *, force: bool) -> None:
    """Write ``path`` with ``mode``: created anew (never through an existing file or link),
    or, with ``force``, by replacing what is there in one rename."""
    if not force:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(path, flags, mode)
        target = path
    else:
        target = f"{path}.{os.getpid()}.tmp"
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)  # the umask never widens, but be exact for the key
            file.write(content)
        if force:
            os.replace(target, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise


def _generate_key(args: argparse.Namespace) -> int:
    prefix = args.output_prefix
    if not prefix:
        raise UsageError("--output-prefix is empty: give the files' name, e.g. cosign")
    private_path, public_path = f"{prefix}.key", f"{prefix}.pub"
    existing = [path for path in (private_path, public_path) if os.path.lexists(path)]
    if existing and not args.force:
        raise UsageError(
            f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: "
            "pass --force to overwrite, or choose another --output-prefix"
        )
    require_sign_extra("generate-key")  # before any prompt
    try:
        secret = obtain_passphrase(args.passphrase_file, confirm=True)
    except OSError as exc:
        raise UsageError(
            f"cannot read the passphrase file {args.passphrase_file}: {exc.strerror or exc}"
        ) from None
    private_pem, public_pem = generate_key(secret)
    _write(private_path, private_pem, 0o600, force=args.force)
    try:
        _write(public_path, public_pem, 0o644, force=args.force)
    except BaseException:
        with contextlib.suppress(OSError):  # no private key without its public half
            os.unlink(private_path)
        raise
    sys.stderr.write(f"Private key written to {private_path}\n")
    sys.stderr.write(f"Public key written to {public_path}\n")
    if args.json:
        key = load_public_key(public_pem, public_path)
        print_json({"private_key": private_path, "public_key": public_path, "key": key.name})
    return 0


SUBCOMMANDS = (Subcommand("generate-key", _add_generate_key, _generate_key),)
