"""The subcommands for OCI artifacts (as oras makes them): ``push`` files, ``pull`` them."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..drivers.sync import Client
from ..sansio.reference import Reference
from .common import Subcommand, UsageError, on_one_reference

__all__ = ["SUBCOMMANDS"]


def _add_push(sub: Any, common: argparse.ArgumentParser) -> None:
    push = sub.add_parser("push", parents=[common], help="push files as an OCI artifact (oras)")
    push.add_argument("image", metavar="REF")
    push.add_argument("files", nargs="+", metavar="FILE")
    push.add_argument("--artifact-type", metavar="TYPE", help="the artifact's artifactType")
    push.add_argument(
        "--annotation", action="append", default=[], metavar="K=V", help="a manifest annotation"
    )
    push.add_argument("--subject", metavar="REF", help="attach it to this image (SBOM, signature)")


def _push(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        annotations = {}
        for item in args.annotation:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--annotation {item!r} must be KEY=VALUE")
            annotations[key] = value
        for name in args.files:
            if os.path.isdir(name):
                raise UsageError(f"{name} is a directory: push files (archive it first)")
        digest = client.push_files(
            text,
            args.files,
            artifact_type=args.artifact_type,
            annotations=annotations or None,
            subject=args.subject,
        )
        sys.stdout.write(digest + "\n")

    return on_one_reference(args, action, writing=True)


def _add_pull(sub: Any, common: argparse.ArgumentParser) -> None:
    pull = sub.add_parser("pull", parents=[common], help="write an artifact's files into DIR")
    pull.add_argument("image", metavar="REF")
    pull.add_argument("-o", "--output", required=True, metavar="DIR")
    pull.add_argument("--overwrite", action="store_true", help="replace files that exist")
    pull.add_argument(
        "--allow-hidden",
        action="store_true",
        help="write titles under dot-files and dot-folders (.git/config, .bashrc)",
    )


def _pull(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        from ..drivers.artifacts import printable_path

        written = client.pull_files(
            text, args.output, overwrite=args.overwrite, allow_hidden=args.allow_hidden
        )
        for path in written:  # a registry chose these names: never raw to a terminal
            sys.stdout.write(f"{printable_path(path)}\n")

    return on_one_reference(args, action)


SUBCOMMANDS = (
    Subcommand("push", _add_push, _push),
    Subcommand("pull", _add_pull, _pull),
)
