"""The subcommands that read: ``inspect``, ``tags``, ``manifest``, ``digest``, ``blob``,
``probe``, ``catalog`` and ``ratelimit``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from typing import IO, Any

from ..drivers.sync import Client
from ..sansio.errors import RegistryError
from ..sansio.image import Image
from ..sansio.manifests import INDEX_TYPES, Descriptor, Platform
from ..sansio.reference import Reference
from ..sansio.tagfilter import TagFilter
from .common import (
    Subcommand,
    UsageError,
    client,
    client_kwargs,
    named,
    on_one_reference,
    print_json,
    registries_conf,
    report,
    warn,
)

__all__ = ["SUBCOMMANDS", "platform_view", "skopeo_view"]


def skopeo_view(image: Image, ref: Reference, tags: list[str] | None) -> dict[str, Any]:
    """An image in the keys ``skopeo inspect`` prints, so that scripts can switch."""
    created = image.created
    return {
        "Name": f"{ref.registry}/{ref.repository}",
        "Digest": image.digest,
        "RepoTags": tags if tags is not None else [],
        "Created": _iso(created),
        "DockerVersion": image.docker_version,
        "Labels": image.config.labels or None,
        "Architecture": image.architecture,
        "Os": image.os,
        "Layers": list(image.layers),
        "LayersData": [
            {
                "MIMEType": layer.media_type,
                "Digest": layer.digest,
                "Size": layer.size,
                "Annotations": layer.annotations or None,
            }
            for layer in image.layer_descriptors
        ],
        "Env": list(image.config.env) or None,
    }


# -- inspect ------------------------------------------------------------------------------------


def _add_inspect(sub: Any, common: argparse.ArgumentParser) -> None:
    inspect = sub.add_parser("inspect", parents=[common], help="inspect images (skopeo's keys)")
    inspect.add_argument("images", nargs="+", metavar="IMAGE")
    inspect.add_argument("--raw", action="store_true", help="the manifest bytes as served")
    inspect.add_argument("--config", action="store_true", help="the image config")
    inspect.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="for multi-arch images")
    inspect.add_argument("--no-tags", action="store_true", help="do not list the repository's tags")
    inspect.add_argument("--jsonl", action="store_true", help="one JSON document per line")
    inspect.add_argument(
        "--all-platforms",
        action="store_true",
        help="every platform of an index: a list of each entry's platform, manifest and config"
        " digests, layers and created time (a plain image: a list of one)",
    )
    inspect.add_argument(
        "--concurrency", type=int, default=16, help="images inspected at once (default 16)"
    )


def _inspect(args: argparse.Namespace) -> int:
    """Inspect every image concurrently (asyncio driver); print in argument order."""
    platform = Platform.parse(args.platform) if args.platform else None
    if args.all_platforms and (args.raw or args.config or args.platform):
        raise UsageError("--all-platforms lists every platform: drop --raw, --config, --platform")
    import asyncio

    places = [named(args, text, writing=False) for text in args.images]
    refs = [Reference.parse(primary) for primary, _ in places]
    sources = [host for _, hosts in places for host in hosts]
    results, warnings = asyncio.run(_inspect_all(args, refs, platform, sources))
    warn(warnings)
    status = 0
    shown: list[Any] = []
    for result in results:
        if isinstance(result, RegistryError):
            status = status or report(result, args)
        else:
            shown.append(result)
    if args.raw:
        # The bytes as served, so that sha256(stdout) is the manifest's digest (skopeo's --raw).
        for raw in shown:
            sys.stdout.buffer.write(raw if len(shown) == 1 else raw + b"\n")
        sys.stdout.flush()
        return status
    if args.jsonl:
        for result in shown:
            sys.stdout.write(json.dumps(result, default=str) + "\n")
    elif len(refs) == 1 and shown:
        print_json(shown[0])
    elif len(refs) > 1:
        print_json(shown)
    return status


async def _inspect_all(
    args: argparse.Namespace, refs: list[Reference], platform: Platform | None, sources: list[str]
) -> tuple[list[Any], list[tuple[str, str]]]:
    from ..drivers.asyncio import AsyncioBackend
    from ..drivers.asyncio import Client as AsyncioClient

    kwargs = client_kwargs(args, [r.registry for r in refs])
    if kwargs["insecure_registries"]:
        kwargs["insecure_registries"] = [*kwargs["insecure_registries"], *sources]
    async with AsyncioClient(**kwargs, registries_conf=registries_conf(args)) as client:

        async def one(ref: Reference, text: str) -> Any:
            try:  # reads go by the name as typed: registries.conf's mirrors apply to it
                if args.all_platforms:
                    return await _all_platforms(client, ref, text, args.concurrency)
                if args.raw:
                    return (await client.manifest(text)).raw
                image = await client.image(text, platform)
                if args.config:
                    return json.loads(image.raw_config)
                tags = None if args.no_tags else await client.tags(text)
                return skopeo_view(image, ref, tags)
            except RegistryError as exc:
                return exc

        await client.authorize(args.images)  # tokens for every repository first, shared by all
        jobs = [partial(one, ref, text) for ref, text in zip(refs, args.images, strict=True)]
        results = await AsyncioBackend().gather(jobs, args.concurrency)
        return results, client.warnings


def _iso(created: datetime | None) -> str | None:
    if created is None:
        return None
    return created.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def platform_view(image: Image | None, entry: Descriptor | None) -> dict[str, Any]:
    """One platform of ``inspect --all-platforms``: the index entry's platform (else the
    image's own), its manifest and config digests, layers and created time. ``image`` is None
    for an entry that is itself an index (nothing of one image to show)."""
    chosen = entry.platform if entry is not None else None
    if chosen is None and image is not None:
        chosen = Platform(image.os, image.architecture, image.variant or None)
    return {
        "Platform": str(chosen) if chosen else None,
        "Os": chosen.os if chosen else None,
        "Architecture": chosen.architecture if chosen else None,
        "Variant": chosen.variant if chosen else None,
        "Digest": entry.digest if entry is not None else image.digest if image else None,
        "MediaType": entry.media_type if entry is not None else image.media_type if image else None,
        "ConfigDigest": image.config_digest if image else None,
        "Layers": list(image.layers) if image else [],
        "Created": _iso(image.created) if image else None,
    }


async def _all_platforms(client: Any, ref: Reference, text: str, concurrency: int) -> Any:
    """Every entry of the index ``text`` names, inspected concurrently, in the index's order;
    a plain image as a list of one."""
    from ..drivers.asyncio import AsyncioBackend

    manifest = await client.manifest(text)
    if not manifest.is_index:
        image = await client.image(f"{ref.registry}/{ref.repository}@{manifest.digest}")
        return [platform_view(image, None)]

    async def entry(descriptor: Descriptor) -> dict[str, Any]:
        if descriptor.media_type in INDEX_TYPES:
            return platform_view(None, descriptor)
        where = f"{ref.registry}/{ref.repository}@{descriptor.digest}"
        return platform_view(await client.image(where), descriptor)

    jobs = [partial(entry, descriptor) for descriptor in manifest.manifests]
    return await AsyncioBackend().gather(jobs, max(1, concurrency))


# -- one reference: tags, manifest, digest, blob ------------------------------------------------


def _add_tags(sub: Any, common: argparse.ArgumentParser) -> None:
    tags = sub.add_parser("tags", parents=[common], help="list a repository's tags")
    tags.add_argument("image", metavar="IMAGE")
    tags.add_argument("--json", action="store_true")
    tags.add_argument(
        "--include", metavar="REGEX", help="only tags the expression matches whole (re.fullmatch)"
    )
    tags.add_argument(
        "--exclude", metavar="REGEX", help="leave out tags the expression matches whole (wins)"
    )
    tags.add_argument("--semver", metavar="RANGE", help="only versions in RANGE (as sync reads)")
    tags.add_argument(
        "--omit-digest-tags",
        action="store_true",
        help="leave out sha256-<hex>[.sig|.att|.sbom] (cosign, referrers fallback)",
    )


def _tags(args: argparse.Namespace) -> int:
    # Checked before any request: a bad expression is a usage error (exit 2), not a lookup.
    TagFilter.of(
        include=args.include,
        exclude=args.exclude,
        semver=args.semver,
        omit_digest_tags=args.omit_digest_tags,
    )

    def action(client: Client, ref: Reference, text: str) -> None:
        tags = client.tags(
            text,
            include=args.include,
            exclude=args.exclude,
            semver=args.semver,
            omit_digest_tags=args.omit_digest_tags,
        )
        sys.stdout.write(json.dumps(tags) + "\n" if args.json else "".join(f"{t}\n" for t in tags))

    return on_one_reference(args, action)


def _add_ratelimit(sub: Any, common: argparse.ArgumentParser) -> None:
    ratelimit = sub.add_parser(
        "ratelimit",
        parents=[common],
        help="the registry's rate limit (Docker Hub's), by a HEAD that spends no pull",
    )
    ratelimit.add_argument("image", metavar="IMAGE")
    ratelimit.add_argument("--json", action="store_true", help="null where none is sent")


def _ratelimit(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        found = client.ratelimit(text).to_json()
        if args.json:
            sys.stdout.write(json.dumps(found) + "\n")
        else:
            sys.stdout.write("".join(f"{k}\t{'-' if v is None else v}\n" for k, v in found.items()))

    return on_one_reference(args, action)


def _add_manifest(sub: Any, common: argparse.ArgumentParser) -> None:
    manifest = sub.add_parser("manifest", parents=[common], help="print a manifest as served")
    manifest.add_argument("image", metavar="IMAGE")


def _manifest(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        sys.stdout.buffer.write(client.manifest(text).raw)

    return on_one_reference(args, action)


def _add_digest(sub: Any, common: argparse.ArgumentParser) -> None:
    digest = sub.add_parser("digest", parents=[common], help="the manifest digest (by HEAD)")
    digest.add_argument("image", metavar="IMAGE")


def _digest(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        sys.stdout.write(client.digest(text) + "\n")

    return on_one_reference(args, action)


def _add_blob(sub: Any, common: argparse.ArgumentParser) -> None:
    blob = sub.add_parser("blob", parents=[common], help="download and verify a blob")
    blob.add_argument("image", metavar="IMAGE@DIGEST")
    blob.add_argument("-o", "--output", required=True, metavar="FILE")


def _blob(args: argparse.Namespace) -> int:
    def action(client: Client, ref: Reference, text: str) -> None:
        _download(client, text, ref, args.output)

    return on_one_reference(args, action)


class _Progress:
    """Bytes written so far and the rate, redrawn on one terminal line (stderr only)."""

    def __init__(self, file: IO[bytes], label: str) -> None:
        self.file, self.label, self.done = file, label, 0
        self.started = self.drawn = time.monotonic()

    def write(self, data: bytes) -> int:
        self.file.write(data)
        self.done += len(data)
        now = time.monotonic()
        if now - self.drawn > 0.1:
            self.drawn = now
            self.draw(now)
        return len(data)

    def draw(self, now: float, end: str = "") -> None:
        rate = self.done / max(now - self.started, 1e-6) / 2**20
        sys.stderr.write(f"\r{self.label}: {self.done / 2**20:.1f} MiB, {rate:.1f} MiB/s{end}")
        sys.stderr.flush()


def _download(client: Client, text: str, ref: Reference, output: str) -> None:
    """Download into a new file beside ``output``, then rename it over ``output`` once verified.

    The temporary file is created exclusively under a random name (``mkstemp``), so a symlink
    or file planted at a predictable name is neither followed nor clobbered, and a blob that
    fails its digest never reaches ``output``.
    """
    if os.path.isdir(output):
        raise UsageError(f"-o {output} is a directory; name the file to write")
    target = os.path.abspath(output)
    handle, partial_path = tempfile.mkstemp(
        dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.", suffix=".partial"
    )
    progress = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)  # what open() would have made, not mkstemp's 0600
        with os.fdopen(handle, "wb") as file:
            sink: Any = file
            if sys.stderr.isatty():
                sink = progress = _Progress(file, (ref.digest or "")[:19])
            client.blob(text, sink)
        os.replace(partial_path, target)
    except BaseException:
        try:
            os.unlink(partial_path)
        except FileNotFoundError:
            pass
        raise
    if progress is not None:
        progress.draw(time.monotonic(), ", digest verified\n")


# -- one registry: probe, catalog ---------------------------------------------------------------


def _add_probe(sub: Any, common: argparse.ArgumentParser) -> None:
    probe = sub.add_parser("probe", parents=[common], help="V2 or V1, and how it authenticates")
    probe.add_argument("registry", metavar="REGISTRY")


def _probe(args: argparse.Namespace) -> int:
    with client(args, args.registry) as chosen:
        registry = chosen.probe(args.registry)
        challenge = registry.challenge
        print_json(
            {
                "Registry": args.registry,
                "URL": registry.base(bool(registry.is_v2)),
                "API": "v2" if registry.is_v2 else "v1",
                "Auth": challenge.scheme if challenge else None,
                "Realm": challenge.params.get("realm") if challenge else None,
                "Service": challenge.params.get("service") if challenge else None,
            }
        )
    return 0


def _add_catalog(sub: Any, common: argparse.ArgumentParser) -> None:
    catalog = sub.add_parser("catalog", parents=[common], help="every repository of REGISTRY")
    catalog.add_argument("registry", metavar="REGISTRY")
    catalog.add_argument("--json", action="store_true")


def _catalog(args: argparse.Namespace) -> int:
    with client(args, args.registry) as chosen:
        try:
            names = chosen.catalog(args.registry)
        finally:
            warn(chosen.warnings)
    sys.stdout.write(json.dumps(names) + "\n" if args.json else "".join(f"{n}\n" for n in names))
    return 0


SUBCOMMANDS = (
    Subcommand("inspect", _add_inspect, _inspect),
    Subcommand("tags", _add_tags, _tags),
    Subcommand("manifest", _add_manifest, _manifest),
    Subcommand("digest", _add_digest, _digest),
    Subcommand("blob", _add_blob, _blob),
    Subcommand("probe", _add_probe, _probe),
    Subcommand("catalog", _add_catalog, _catalog),
    Subcommand("ratelimit", _add_ratelimit, _ratelimit),
)
