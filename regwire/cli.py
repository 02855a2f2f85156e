"""The ``regwire`` command: ask registries questions, get JSON answers.

Exit codes: 0 success, 2 usage, 3 not found, 4 authentication, 5 network, 6 blocked by
registries.conf, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import timezone
from functools import partial
from typing import IO, Any

from .drivers._client import reading_places, writing_place
from .drivers.sync import Client
from .sansio.auth import Credentials
from .sansio.errors import (
    AuthenticationError,
    NetworkError,
    NotFound,
    RegistryError,
    RegistryNotFound,
)
from .sansio.image import Image
from .sansio.manifests import Platform
from .sansio.reference import Reference
from .sansio.registries_conf import BlockedRegistry, RegistriesConf

__all__ = ["main"]

EXIT_NOT_FOUND, EXIT_AUTH, EXIT_NETWORK, EXIT_USAGE, EXIT_BLOCKED = 3, 4, 5, 2, 6


def skopeo_view(image: Image, ref: Reference, tags: list[str] | None) -> dict[str, Any]:
    """An image in the keys ``skopeo inspect`` prints, so that scripts can switch."""
    created = image.created
    return {
        "Name": f"{ref.registry}/{ref.repository}",
        "Digest": image.digest,
        "RepoTags": tags if tags is not None else [],
        "Created": created.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        if created
        else None,
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


def _parser() -> argparse.ArgumentParser:
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

    parser = argparse.ArgumentParser(prog="regwire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", parents=[common], help="inspect images (skopeo's keys)")
    inspect.add_argument("images", nargs="+", metavar="IMAGE")
    inspect.add_argument("--raw", action="store_true", help="the manifest bytes as served")
    inspect.add_argument("--config", action="store_true", help="the image config")
    inspect.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="for multi-arch images")
    inspect.add_argument("--no-tags", action="store_true", help="do not list the repository's tags")
    inspect.add_argument("--jsonl", action="store_true", help="one JSON document per line")
    inspect.add_argument(
        "--concurrency", type=int, default=16, help="images inspected at once (default 16)"
    )
    tags = sub.add_parser("tags", parents=[common], help="list a repository's tags")
    tags.add_argument("image", metavar="IMAGE")
    tags.add_argument("--json", action="store_true")
    manifest = sub.add_parser("manifest", parents=[common], help="print a manifest as served")
    manifest.add_argument("image", metavar="IMAGE")
    digest = sub.add_parser("digest", parents=[common], help="the manifest digest (by HEAD)")
    digest.add_argument("image", metavar="IMAGE")
    blob = sub.add_parser("blob", parents=[common], help="download and verify a blob")
    blob.add_argument("image", metavar="IMAGE@DIGEST")
    blob.add_argument("-o", "--output", required=True, metavar="FILE")
    probe = sub.add_parser("probe", parents=[common], help="V2 or V1, and how it authenticates")
    probe.add_argument("registry", metavar="REGISTRY")
    tag = sub.add_parser("tag", parents=[common], help="tag the manifest IMAGE names again")
    tag.add_argument("image", metavar="IMAGE")
    tag.add_argument("tags", nargs="+", metavar="TAG")
    delete = sub.add_parser(
        "delete", parents=[common], help="delete a tag, or a manifest by digest"
    )
    delete.add_argument("image", metavar="IMAGE")
    referrers = sub.add_parser(
        "referrers", parents=[common], help="what refers to IMAGE (signatures, SBOMs)"
    )
    referrers.add_argument("image", metavar="IMAGE")
    referrers.add_argument("--artifact-type", metavar="TYPE", help="only referrers of this type")
    referrers.add_argument("--json", action="store_true")
    from .cli_copy import add_copy_parser, add_sync_parser

    add_copy_parser(sub, common)
    add_sync_parser(sub, common)
    catalog = sub.add_parser("catalog", parents=[common], help="every repository of REGISTRY")
    catalog.add_argument("registry", metavar="REGISTRY")
    catalog.add_argument("--json", action="store_true")
    push = sub.add_parser("push", parents=[common], help="push files as an OCI artifact (oras)")
    push.add_argument("image", metavar="REF")
    push.add_argument("files", nargs="+", metavar="FILE")
    push.add_argument("--artifact-type", metavar="TYPE", help="the artifact's artifactType")
    push.add_argument(
        "--annotation", action="append", default=[], metavar="K=V", help="a manifest annotation"
    )
    push.add_argument("--subject", metavar="REF", help="attach it to this image (SBOM, signature)")
    pull = sub.add_parser("pull", parents=[common], help="write an artifact's files into DIR")
    pull.add_argument("image", metavar="REF")
    pull.add_argument("-o", "--output", required=True, metavar="DIR")
    pull.add_argument("--overwrite", action="store_true", help="replace files that exist")
    pull.add_argument(
        "--allow-hidden",
        action="store_true",
        help="write titles under dot-files and dot-folders (.git/config, .bashrc)",
    )
    sub.add_parser("demo", help="run against a built-in model registry on loopback")
    return parser


def _client_kwargs(args: argparse.Namespace, registries: list[str]) -> dict[str, Any]:
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
            raise _UsageError(
                f"--creds is for one registry, and the images name {len(named)} "
                f"({', '.join(named)}); run one command per registry, or use --authfile"
            )
        credentials = _parse_creds(args.creds)
    insecure = registries if args.insecure or args.tls_verify == "false" else []
    return {
        "credentials": credentials,
        "auth_file": args.authfile,
        "insecure_registries": insecure,
        "cert_dir": args.cert_dir,
        "timeout": args.timeout,
    }


def _client(args: argparse.Namespace, registry: str, sources: list[str] | None = None) -> Client:
    kwargs = _client_kwargs(args, [registry])
    if sources and kwargs["insecure_registries"]:
        kwargs["insecure_registries"] = [*kwargs["insecure_registries"], *sources]
    return Client(**kwargs, registries_conf=_registries_conf(args))


def _registries_conf(args: argparse.Namespace) -> RegistriesConf | None:
    """registries.conf as podman reads it, or the file --registries-conf names."""
    from .drivers.registries_conf import load_registries_conf

    return load_registries_conf(getattr(args, "registries_conf", None))


_WRITES = frozenset({"push", "tag", "delete"})


def _named(args: argparse.Namespace, text: str) -> tuple[str, list[str]]:
    """Where the command goes for ``text`` under registries.conf: the primary name (the
    registry itself for a read, the rewritten location for a write; a blocked name is refused
    here, before any request), and the registries of every place (mirrors included), for
    --insecure. The client is given ``text`` as typed and applies the same rules."""
    conf = _registries_conf(args)
    if conf is None:
        return text, []
    if args.command in _WRITES:
        place = writing_place(conf, text)
        return str(place.reference), [place.reference.registry]
    places = reading_places(conf, text)
    return str(places[-1].reference), [place.reference.registry for place in places]


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=4, default=str) + "\n")


def _inspect(args: argparse.Namespace) -> int:
    """Inspect every image concurrently (asyncio driver); print in argument order."""
    platform = Platform.parse(args.platform) if args.platform else None
    import asyncio

    named = [_named(args, text) for text in args.images]
    refs = [Reference.parse(primary) for primary, _ in named]
    sources = [host for _, hosts in named for host in hosts]
    results, warnings = asyncio.run(_inspect_all(args, refs, platform, sources))
    _warn(warnings)
    status = 0
    shown: list[Any] = []
    for result in results:
        if isinstance(result, RegistryError):
            status = status or _report(result, args)
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
        _print(shown[0])
    elif len(refs) > 1:
        _print(shown)
    return status


async def _inspect_all(
    args: argparse.Namespace, refs: list[Reference], platform: Platform | None, sources: list[str]
) -> tuple[list[Any], list[tuple[str, str]]]:
    from .drivers.asyncio import AsyncioBackend
    from .drivers.asyncio import Client as AsyncioClient

    kwargs = _client_kwargs(args, [r.registry for r in refs])
    if kwargs["insecure_registries"]:
        kwargs["insecure_registries"] = [*kwargs["insecure_registries"], *sources]
    async with AsyncioClient(**kwargs, registries_conf=_registries_conf(args)) as client:

        async def one(ref: Reference, text: str) -> Any:
            try:  # reads go by the name as typed: registries.conf's mirrors apply to it
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


def _warn(warnings: list[tuple[str, str]]) -> None:
    """Each registry warning once on stderr, as the distribution spec asks clients to."""
    for registry, text in warnings:
        sys.stderr.write(f"regwire: warning from {registry}: {text}\n")


def _report(exc: BaseException, args: argparse.Namespace) -> int:
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    sys.stderr.write(f"regwire: {exc}\n")
    return exit_code(exc)


def exit_code(exc: BaseException) -> int:
    """The exit code that says what kind of failure ``exc`` is (see the module's docstring)."""
    if isinstance(exc, RegistryNotFound):
        # Unreachable (refused): "try again later", not "it is not there", for a script.
        return EXIT_NETWORK
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, NetworkError):
        return EXIT_NETWORK
    if isinstance(exc, BlockedRegistry):
        return EXIT_BLOCKED
    return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from .testing.demo import run_demo

        return run_demo(main)
    if args.command == "inspect":
        return _inspect(args)
    if args.command == "probe":
        with _client(args, args.registry) as client:
            registry = client.probe(args.registry)
            challenge = registry.challenge
            _print(
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
    if args.command == "copy":
        from .cli_copy import copy_command

        return copy_command(args)
    if args.command == "sync":
        from .cli_copy import sync_command

        return sync_command(args)
    if args.command == "catalog":
        with _client(args, args.registry) as client:
            try:
                names = client.catalog(args.registry)
            finally:
                _warn(client.warnings)
        sys.stdout.write(
            json.dumps(names) + "\n" if args.json else "".join(f"{n}\n" for n in names)
        )
        return 0
    primary, sources = _named(args, args.image)
    ref = Reference.parse(primary)
    typed = Reference.parse(args.image.removeprefix("docker://")).registry
    with _client(args, typed, [ref.registry, *sources]) as client:
        try:
            _one(args, client, ref, args.image)
        finally:
            _warn(client.warnings)
    return 0


def _parse_creds(text: str) -> Credentials:
    user, _, password = text.partition(":")
    return Credentials(user, password)


def _one(args: argparse.Namespace, client: Client, ref: Reference, text: str) -> None:
    """The commands about one reference, run over ``client``; reads go by ``text``, as typed,
    so that registries.conf's mirrors and short names apply to them."""
    if args.command == "tags":
        tags = client.tags(text)
        sys.stdout.write(json.dumps(tags) + "\n" if args.json else "".join(f"{t}\n" for t in tags))
    elif args.command == "manifest":
        sys.stdout.buffer.write(client.manifest(text).raw)
    elif args.command == "digest":
        sys.stdout.write(client.digest(text) + "\n")
    elif args.command == "blob":
        _blob(client, text, ref, args.output)
    elif args.command == "push":
        annotations = {}
        for item in args.annotation:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise _UsageError(f"--annotation {item!r} must be KEY=VALUE")
            annotations[key] = value
        for name in args.files:
            if os.path.isdir(name):
                raise _UsageError(f"{name} is a directory: push files (archive it first)")
        digest = client.push_files(
            text,
            args.files,
            artifact_type=args.artifact_type,
            annotations=annotations or None,
            subject=args.subject,
        )
        sys.stdout.write(digest + "\n")
    elif args.command == "pull":
        from .drivers.artifacts import printable_path

        written = client.pull_files(
            text, args.output, overwrite=args.overwrite, allow_hidden=args.allow_hidden
        )
        for path in written:  # a registry chose these names: never raw to a terminal
            sys.stdout.write(f"{printable_path(path)}\n")
    elif args.command == "tag":
        for tag in args.tags:
            Reference.parse(f"{ref.registry}/{ref.repository}:{tag}")  # a usage error, early
        sys.stdout.write(client.tag(text, *args.tags) + "\n")
    elif args.command == "delete":
        if ref.tag is None and ref.digest is None:
            raise _UsageError(f"{ref} names no tag or digest to delete")
        client.delete(text)
    elif args.command == "referrers":
        found = client.referrers(text, args.artifact_type)
        if args.json:
            _print([descriptor.to_json() for descriptor in found])
        else:
            for d in found:
                sys.stdout.write(f"{d.digest}\t{d.artifact_type or d.media_type}\t{d.size}\n")


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


def _blob(client: Client, text: str, ref: Reference, output: str) -> None:
    """Download into a new file beside ``output``, then rename it over ``output`` once verified.

    The temporary file is created exclusively under a random name (``mkstemp``), so a symlink
    or file planted at a predictable name is neither followed nor clobbered, and a blob that
    fails its digest never reaches ``output``.
    """
    if os.path.isdir(output):
        raise _UsageError(f"-o {output} is a directory; name the file to write")
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


class _UsageError(Exception):
    """A command line that cannot be carried out as given (exit 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "debug", False):
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return _run(args)
    except ValueError as exc:  # InvalidReference and bad --platform are ValueErrors
        if isinstance(exc, RegistryError) and not isinstance(exc, ValueError):
            return _report(exc, args)
        sys.stderr.write(f"regwire: {exc}\n")
        return EXIT_USAGE
    except RegistryError as exc:
        return _report(exc, args)
    except _UsageError as exc:
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
