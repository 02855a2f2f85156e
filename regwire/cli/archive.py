"""``regwire save IMAGE... -o FILE``: several images into one docker-archive (``docker save``'s
format, which ``docker load`` and ``podman load`` read). Single images go either way with
``copy`` (``docker-archive:PATH[:REF]``, ``oci-archive:PATH[:TAG]``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..drivers.sync import Client
from ..sansio.reference import Reference
from .common import Subcommand, UsageError, client_kwargs, print_json, registries_conf, warn

__all__ = ["SUBCOMMANDS"]


def _add_save(sub: Any, common: argparse.ArgumentParser) -> None:
    save = sub.add_parser(
        "save",
        parents=[common],
        help="save images into one docker-archive (docker save's format)",
        description="Save each IMAGE into one docker-archive FILE, as `docker save IMAGE... -o "
        "FILE` writes it: each image's config byte for byte, its layers uncompressed (each "
        "checked against the config's diff IDs), RepoTags the names given. An index gives one "
        "platform's image (--platform, else linux/amd64); manifest digests are not kept (the "
        "format has no manifests: use `copy ... oci-archive:FILE` to keep them). FILE appears "
        "only once complete.",
    )
    save.add_argument("images", nargs="+", metavar="IMAGE")
    save.add_argument("-o", "--output", required=True, metavar="FILE", help="the archive")
    save.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="the image of an index")
    save.add_argument("--json", action="store_true", help="print what was saved as JSON")


def _save(args: argparse.Namespace) -> int:
    names = [image.removeprefix("docker://") for image in args.images]
    for name in names:
        if name.startswith(("oci:", "oci-archive:", "docker-archive:")):
            raise UsageError(f"{name}: save reads images from registries; copy takes files")
        Reference.parse(name)  # a bad name is a usage error before any request
    registries = [Reference.parse(name).registry for name in names]
    with Client(**client_kwargs(args, registries), registries_conf=registries_conf(args)) as client:
        try:
            digests = client.save(names, args.output, platform=args.platform)
        finally:
            warn(client.warnings)
    if args.json:
        print_json(
            {
                "Output": args.output,
                "Images": [
                    {"Reference": name, "Digest": digest}
                    for name, digest in zip(names, digests, strict=True)
                ],
            }
        )
    else:
        sys.stderr.write(f"regwire: saved {len(names)} image(s) into {args.output}\n")
    return 0


SUBCOMMANDS = (Subcommand("save", _add_save, _save),)
