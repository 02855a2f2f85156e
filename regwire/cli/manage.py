"""The subcommands that manage what a repository holds: ``tag``, ``untag``, ``prune``,
``delete`` and ``referrers``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..drivers.sync import Client
from ..sansio.reference import Reference
from ..sansio.retention import RetentionPlan, RetentionPolicy, parse_duration
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


def _add_prune(sub: Any, common: argparse.ArgumentParser) -> None:
    prune = sub.add_parser(
        "prune",
        parents=[common],
        help="keep the newest N images of a repository; untag the rest, delete what only they used",
        description="Keep the newest N images (by their config's created; an index by its newest "
        "image) with every matching tag; untag the other matching tags (with --older-than, only "
        "those older than that); then delete by digest what only the untagged tags reached "
        "(index entries, signatures, SBOMs, referrers fallback tags). A kept image keeps "
        "everything it reaches; a manifest no tag reached is never touched. Digest tags "
        "(sha256-...) go or stay with their image. Run with --dry-run first.",
    )
    prune.add_argument("repository", metavar="REPO")
    prune.add_argument("--keep", type=int, required=True, metavar="N", help="images to keep")
    prune.add_argument(
        "--older-than",
        metavar="DURATION",
        help="untag only images older than this (Go's syntax plus d and w: 30d, 12h, 2w)",
    )
    prune.add_argument("--include", metavar="REGEX", help="only tags the expression matches whole")
    prune.add_argument("--exclude", metavar="REGEX", help="leave tags the expression matches whole")
    prune.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    prune.add_argument("--json", action="store_true", help="the plan as JSON")


def _summary(plan: RetentionPlan, dry_run: bool) -> str:
    """The plan for a reader: each tag, kept or not and why, then each digest deleted."""
    lines = [f"{d.tag}\t{'kept' if d.kept else 'gone'}\t{d.reason}" for d in plan.decisions]
    verb = "would delete" if dry_run else "deleted"
    lines += [f"{verb}\t{digest}" for digest in plan.delete]
    return "".join(f"{line}\n" for line in lines)


def _prune(args: argparse.Namespace) -> int:
    # Every flag checked before the first request (exit 2): the duration, the expressions, N.
    older_than = parse_duration(args.older_than) if args.older_than is not None else None
    RetentionPolicy(args.keep, older_than, args.include, args.exclude)
    ref = Reference.parse(args.repository.removeprefix("docker://"))
    if ref.tag is not None or ref.digest is not None:
        raise UsageError(f"{ref} names an image; prune takes a repository (REPO)")

    def action(client: Client, ref: Reference, text: str) -> None:
        plan = client.prune(
            text,
            keep=args.keep,
            older_than=older_than,
            include=args.include,
            exclude=args.exclude,
            dry_run=args.dry_run,
        )
        if args.json:
            print_json(plan.to_json())
        else:
            sys.stdout.write(_summary(plan, args.dry_run))

    image = argparse.Namespace(**{**vars(args), "image": args.repository})
    return on_one_reference(image, action, writing=True)


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
    Subcommand("prune", _add_prune, _prune),
    Subcommand("referrers", _add_referrers, _referrers),
)
