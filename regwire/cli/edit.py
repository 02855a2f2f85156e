"""The subcommands that edit images: ``index create|add|remove``, ``mutate``, ``append``,
``convert``, ``flatten`` and ``rebase`` (a new manifest is written; the source is never
changed; ``-t`` names the result, else the source's tag moves). Each prints the digest written
(``--json``: digest, media type, size and warnings)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..drivers.sync import Client
from ..sansio.edit_documents import (
    Mutation,
    parse_command,
    parse_pairs,
    parse_time_option,
)
from ..sansio.editing import Edited, Selection
from ..sansio.layout import parse_layout_reference
from ..sansio.reference import Reference
from .common import (
    Subcommand,
    UsageError,
    client_kwargs,
    print_json,
    registries_conf,
    warn,
)

__all__ = ["SUBCOMMANDS"]

_ENDS = "[docker://]IMAGE, oci:DIR[:TAG], docker-archive:FILE[:REF] or oci-archive:FILE[:TAG]"


def _registries(*ends: str | None) -> list[str]:
    """The registries the ends name as typed (layouts name none)."""
    names = []
    for end in ends:
        if end is None or parse_layout_reference(end) is not None:
            continue
        if end.startswith(("oci-archive:", "docker-archive:")):
            continue  # refused with its reason by the plan
        names.append(Reference.parse(end.removeprefix("docker://")).registry)
    return names


def _run(args: argparse.Namespace, ends: list[str | None], job: Callable[[Client], Edited]) -> int:
    kwargs = client_kwargs(args, _registries(*ends))
    with Client(**kwargs, registries_conf=registries_conf(args)) as client:
        try:
            edited = job(client)
        finally:
            warn(client.warnings)
    for text in edited.warnings:
        sys.stderr.write(f"regwire: warning: {text}\n")
    if args.json:
        print_json(edited.to_json())
    else:
        sys.stdout.write(edited.digest + "\n")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="digest, media type, size, warnings")


def _to(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", choices=["oci", "docker"], help="convert the entries to one format")


def _selection(parser: argparse.ArgumentParser) -> None:
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="on an index, change this platform's image (repeatable)",
    )
    chosen.add_argument(
        "--all-platforms", action="store_true", help="on an index, change every image"
    )
    parser.add_argument(
        "--time",
        metavar="TIME",
        help="created time: seconds since 1970 or RFC 3339 (default SOURCE_DATE_EPOCH)",
    )


# -- index -----------------------------------------------------------------------------------


def _add_index(sub: Any, common: argparse.ArgumentParser) -> None:
    index = sub.add_parser(
        "index",
        help="make, grow or trim a multi-platform index",
        description="Make an index from images (each placed by its config's platform) or "
        "other indexes' entries, add entries to one, or remove entries by platform or digest. "
        "Children in another repository of the same registry are mounted, not downloaded.",
    )
    actions = index.add_subparsers(dest="index_action", required=True)
    for name, text in (("create", "a new index DST of SRC..."), ("add", "add SRC... to DST")):
        action = actions.add_parser(name, parents=[common], help=text)
        action.add_argument("destination", metavar="DST", help=_ENDS)
        action.add_argument("sources", nargs="+", metavar="SRC", help=_ENDS)
        _to(action)
        _common(action)
    remove = actions.add_parser("remove", parents=[common], help="remove entries from DST")
    remove.add_argument("destination", metavar="DST", help=_ENDS)
    remove.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]")
    remove.add_argument("--digest", action="append", default=[], metavar="DIGEST")
    _common(remove)


def _index(args: argparse.Namespace) -> int:
    if args.index_action == "remove":
        if not args.platform and not args.digest:
            raise UsageError("index remove needs --platform or --digest")
        Selection(tuple(args.platform))
        return _run(
            args,
            [args.destination],
            lambda client: client.index_remove(
                args.destination, platforms=args.platform, digests=args.digest
            ),
        )
    method = "index_create" if args.index_action == "create" else "index_add"
    return _run(
        args,
        [args.destination, *args.sources],
        lambda client: getattr(client, method)(args.destination, args.sources, to=args.to),
    )


# -- mutate ----------------------------------------------------------------------------------


def _add_mutate(sub: Any, common: argparse.ArgumentParser) -> None:
    mutate = sub.add_parser(
        "mutate",
        parents=[common],
        help="change an image's config or annotations (no layer is written again)",
        description="Write a new config and manifest for SRC with the fields given; the "
        "layers are not written again. On an index, --platform or --all-platforms picks the "
        "images; --annotation alone annotates the index itself.",
    )
    mutate.add_argument("source", metavar="SRC", help=_ENDS)
    mutate.add_argument("-t", "--tag", metavar="DST", help="the result (default: SRC's tag)")
    mutate.add_argument("--label", action="append", default=[], metavar="K=V")
    mutate.add_argument("--annotation", action="append", default=[], metavar="K=V")
    mutate.add_argument("--env", action="append", default=[], metavar="K=V")
    mutate.add_argument("--entrypoint", metavar="JSON", help='["/bin/app", "--flag"]')
    mutate.add_argument("--cmd", metavar="JSON", help='["serve"]')
    mutate.add_argument("--workdir", metavar="DIR")
    mutate.add_argument("--user", metavar="USER")
    mutate.add_argument("--exposed-port", action="append", default=[], metavar="PORT[/PROTO]")
    _selection(mutate)
    _common(mutate)


def _mutate(args: argparse.Namespace) -> int:
    # Every option checked before the first request (exit 2).
    labels = dict(parse_pairs(args.label, "label"))
    annotations = dict(parse_pairs(args.annotation, "annotation"))
    env = dict(parse_pairs(args.env, "env"))
    entrypoint = None if args.entrypoint is None else parse_command(args.entrypoint, "entrypoint")
    cmd = None if args.cmd is None else parse_command(args.cmd, "cmd")
    created = None if args.time is None else parse_time_option(args.time)
    mutation = Mutation(
        tuple(labels.items()),
        tuple(annotations.items()),
        tuple(env.items()),
        entrypoint,
        cmd,
        args.workdir,
        args.user,
        tuple(args.exposed_port),
        created,
    )
    if not mutation.changes_anything:
        raise UsageError("nothing to change: give a config option or --annotation")
    Selection(tuple(args.platform), args.all_platforms)
    return _run(
        args,
        [args.source, args.tag],
        lambda client: client.mutate(
            args.source,
            destination=args.tag,
            labels=labels,
            annotations=annotations,
            env=env,
            entrypoint=entrypoint,
            cmd=cmd,
            workdir=args.workdir,
            user=args.user,
            exposed_ports=args.exposed_port,
            platforms=args.platform,
            all_platforms=args.all_platforms,
            time=created,
        ),
    )


# -- append ----------------------------------------------------------------------------------


def _add_append(sub: Any, common: argparse.ArgumentParser) -> None:
    append = sub.add_parser(
        "append",
        parents=[common],
        help="add layers (tar files or directories) on top of an image",
        description="Each --layer (a tar file, kept as it is, or a directory, made into a tar "
        "the same way every time: sorted, owners 0:0, modes kept, times --time or "
        "SOURCE_DATE_EPOCH or 0) becomes a new layer; rootfs.diff_ids and history grow.",
    )
    append.add_argument("source", metavar="SRC", help=_ENDS)
    append.add_argument("-t", "--tag", metavar="DST", required=True, help="the result")
    append.add_argument(
        "--layer", action="append", required=True, metavar="PATH", help="a tar or a directory"
    )
    append.add_argument("--compress", choices=["gzip", "zstd", "none"], default="gzip")
    append.add_argument(
        "--keep-owners", action="store_true", help="keep a directory's numeric owners"
    )
    _selection(append)
    _common(append)


def _append(args: argparse.Namespace) -> int:
    created = None if args.time is None else parse_time_option(args.time)
    Selection(tuple(args.platform), args.all_platforms)
    return _run(
        args,
        [args.source, args.tag],
        lambda client: client.append(
            args.source,
            destination=args.tag,
            layers=args.layer,
            compress=args.compress,
            keep_owners=args.keep_owners,
            platforms=args.platform,
            all_platforms=args.all_platforms,
            time=created,
        ),
    )


# -- convert ---------------------------------------------------------------------------------


def _add_convert(sub: Any, common: argparse.ArgumentParser) -> None:
    convert = sub.add_parser(
        "convert",
        parents=[common],
        help="write an image or index as OCI or Docker (blobs kept)",
        description="Media types mapped, every blob kept byte for byte. Going to Docker, "
        "annotations are dropped with a warning; zstd layers, subjects and artifact types "
        "are refused.",
    )
    convert.add_argument("source", metavar="SRC", help=_ENDS)
    convert.add_argument("-t", "--tag", metavar="DST", required=True, help="the result")
    convert.add_argument("--to", choices=["oci", "docker"], required=True)
    _common(convert)


def _convert(args: argparse.Namespace) -> int:
    return _run(
        args,
        [args.source, args.tag],
        lambda client: client.convert(args.source, destination=args.tag, to=args.to),
    )


# -- flatten ---------------------------------------------------------------------------------


def _add_flatten(sub: Any, common: argparse.ArgumentParser) -> None:
    flatten = sub.add_parser(
        "flatten",
        parents=[common],
        help="make an image one layer holding its final filesystem",
        description="Every layer of SRC read (whiteouts and opaque directories applied, each "
        "path's top entry kept) into one new layer; the config keeps how the image runs, its "
        "rootfs and history say one layer, its created takes --time, else SOURCE_DATE_EPOCH, "
        "else now.",
    )
    flatten.add_argument("source", metavar="SRC", help=_ENDS)
    flatten.add_argument("-t", "--tag", metavar="DST", help="the result (default: SRC's tag)")
    flatten.add_argument("--compress", choices=["gzip", "zstd", "none"], default="gzip")
    _selection(flatten)
    _common(flatten)


def _flatten(args: argparse.Namespace) -> int:
    created = None if args.time is None else parse_time_option(args.time)
    Selection(tuple(args.platform), args.all_platforms)
    return _run(
        args,
        [args.source, args.tag],
        lambda client: client.flatten(
            args.source,
            destination=args.tag,
            compress=args.compress,
            platforms=args.platform,
            all_platforms=args.all_platforms,
            time=created,
        ),
    )


# -- rebase ----------------------------------------------------------------------------------


def _add_rebase(sub: Any, common: argparse.ArgumentParser) -> None:
    rebase = sub.add_parser(
        "rebase",
        parents=[common],
        help="swap an image's base layers for a new base's",
        description="SRC's layers from OLD are replaced by NEW's (crane's rebase): NEW's layers "
        "and history under SRC's own, SRC's config otherwise kept, the manifest annotated "
        "with NEW's name and digest (org.opencontainers.image.base.*). An image not built on "
        "OLD is refused, as is a NEW of another platform.",
    )
    rebase.add_argument("source", metavar="SRC", help=_ENDS)
    rebase.add_argument("--old-base", required=True, metavar="OLD", help=_ENDS)
    rebase.add_argument("--new-base", required=True, metavar="NEW", help=_ENDS)
    rebase.add_argument("-t", "--tag", metavar="DST", help="the result (default: SRC's tag)")
    rebase.add_argument(
        "--platform", metavar="OS/ARCH[/VARIANT]", help="the image of an index to rebase"
    )
    _common(rebase)


def _rebase(args: argparse.Namespace) -> int:
    return _run(
        args,
        [args.source, args.old_base, args.new_base, args.tag],
        lambda client: client.rebase(
            args.source,
            old_base=args.old_base,
            new_base=args.new_base,
            destination=args.tag,
            platform=args.platform,
        ),
    )


SUBCOMMANDS = (
    Subcommand("index", _add_index, _index),
    Subcommand("mutate", _add_mutate, _mutate),
    Subcommand("append", _add_append, _append),
    Subcommand("convert", _add_convert, _convert),
    Subcommand("flatten", _add_flatten, _flatten),
    Subcommand("rebase", _add_rebase, _rebase),
)
