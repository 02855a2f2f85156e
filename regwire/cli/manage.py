"""The subcommands that manage what a repository holds: ``tag``, ``untag``, ``delete`` and
``referrers``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..drivers.sync import Client
from ..sansio.reference import Reference
from .common import Subcommand, UsageError, on_one_reference, print_json

__all__ = ["SUBCOMMANDS"]


def _add_tag(sub: Any, common: argparse.ArgumentParser) -> None:
    tag = sub.add_parser("tag", parents=[common], help="tag the manifest IMAGE names again")
    tag.add_argument("image", metavar="IMAGE")
    tag.add_argument("tags", nargs="+", metavar="TAG")


def _tag(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        for tag in args.tags:
            Reference.parse(f"{ref.registry}/{ref.repository}:{tag}")  # a usage error, early
        sys.stdout.write(client.tag(text, *args.tags) + "\n")

    return on_one_reference(args, action, writing=True)


def _add_delete(sub: Any, common: argparse.ArgumentParser) -> None:
    delete = sub.add_parser(
        "delete", parents=[common], help="delete a tag, or a manifest by digest"
    )
    delete.add_argument("image", metavar="IMAGE")


def _delete(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        if ref.tag is None and ref.digest is None:
            raise UsageError(f"{ref} names no tag or digest to delete")
        client.delete(text)

    return on_one_reference(args, action, writing=True)


def _add_untag(sub: Any, common: argparse.ArgumentParser) -> None:
    untag = sub.add_parser(
        "untag",
        parents=[common],
        help="remove tags; each manifest and its other tags stay",
        description="Remove each IMAGE:TAG's tag; the manifest and its other tags stay. Where "
        "the registry cannot delete a tag, a throwaway manifest is tagged and deleted by digest "
        "(regctl's way); where it does no deletes, nothing is written. Prints the digest each "
        "tag named; stops at the first failure.",
    )
    untag.add_argument("images", nargs="+", metavar="IMAGE:TAG")


def _untag(args: argparse.Namespace) -> int:
    for image in args.images:  # every name checked before the first request
        ref = Reference.parse(image.removeprefix("docker://"))
        if ref.tag is None or ref.digest is not None:
            raise UsageError(f"{ref} names no tag alone to remove (IMAGE:TAG)")

    def action(client: Client, ref: Reference, text: str) -> None:
        sys.stdout.write(client.untag(text) + "\n")

    for image in args.images:
        on_one_reference(argparse.Namespace(**{**vars(args), "image": image}), action, writing=True)
    return 0


def _add_referrers(sub: Any, common: argparse.ArgumentParser) -> None:
    referrers = sub.add_parser(
        "referrers", parents=[common], help="what refers to IMAGE (signatures, SBOMs)"
    )
    referrers.add_argument("image", metavar="IMAGE")
    referrers.add_argument("--artifact-type", metavar="TYPE", help="only referrers of this type")
    referrers.add_argument("--json", action="store_true")


def _referrers(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        found = client.referrers(text, args.artifact_type)
        if args.json:
            print_json([descriptor.to_json() for descriptor in found])
        else:
            for d in found:
                sys.stdout.write(f"{d.digest}\t{d.artifact_type or d.media_type}\t{d.size}\n")

    return on_one_reference(args, action)


SUBCOMMANDS = (
    Subcommand("tag", _add_tag, _tag),
    Subcommand("delete", _add_delete, _delete),
    Subcommand("untag", _add_untag, _untag),
    Subcommand("referrers", _add_referrers, _referrers),
)
