"""The ``regwire`` command: ask registries questions, get JSON answers.

Exit codes: 0 success, 2 usage, 3 not found, 4 authentication, 5 network, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from datetime import timezone
from typing import Any

from .drivers.credentials import lookup_credentials
from .drivers.sync import Client
from .sansio.auth import Credentials
from .sansio.errors import AuthenticationError, NetworkError, NotFound, RegistryError
from .sansio.image import Image
from .sansio.manifests import Platform
from .sansio.reference import Reference

__all__ = ["main"]

EXIT_NOT_FOUND, EXIT_AUTH, EXIT_NETWORK, EXIT_USAGE = 3, 4, 5, 2


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

    parser = argparse.ArgumentParser(prog="regwire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", parents=[common], help="inspect images (skopeo's keys)")
    inspect.add_argument("images", nargs="+", metavar="IMAGE")
    inspect.add_argument("--raw", action="store_true", help="the manifest bytes as served")
    inspect.add_argument("--config", action="store_true", help="the image config")
    inspect.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="for multi-arch images")
    inspect.add_argument("--no-tags", action="store_true", help="do not list the repository's tags")
    inspect.add_argument("--jsonl", action="store_true", help="one JSON document per line")
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
    sub.add_parser("demo", help="run against a built-in model registry on loopback")
    return parser


def _credentials(args: argparse.Namespace, registry: str) -> Credentials:
    if args.creds:
        user, _, password = args.creds.partition(":")
        return Credentials(user, password)
    if args.authfile:
        found = lookup_credentials(registry, {"REGISTRY_AUTH_FILE": args.authfile, "HOME": "/-"})
        return found or Credentials()
    return lookup_credentials(registry) or Credentials()


def _client(args: argparse.Namespace, registry: str) -> Client:
    insecure = [registry] if args.insecure or args.tls_verify == "false" else []
    return Client(
        credentials=_credentials(args, registry),
        insecure_registries=insecure,
        cert_dir=args.cert_dir,
        timeout=args.timeout,
    )


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=4, default=str) + "\n")


def _inspect(args: argparse.Namespace) -> int:
    platform = Platform.parse(args.platform) if args.platform else None
    results: list[Any] = []
    status = 0
    for text in args.images:
        ref = Reference.parse(text)
        try:
            with _client(args, ref.registry) as client:
                if args.raw:
                    results.append(json.loads(client.manifest(ref).raw))
                    continue
                image = client.image(ref, platform)
                if args.config:
                    results.append(json.loads(image.raw_config))
                    continue
                tags = None if args.no_tags else client.tags(ref)
                results.append(skopeo_view(image, ref, tags))
        except RegistryError as exc:
            status = status or _report(exc, args)
    if args.jsonl:
        for result in results:
            sys.stdout.write(json.dumps(result, default=str) + "\n")
    elif len(args.images) == 1 and results:
        _print(results[0])
    elif results or len(args.images) > 1:
        _print(results)
    return status


def _report(exc: BaseException, args: argparse.Namespace) -> int:
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    sys.stderr.write(f"regwire: {exc}\n")
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, NetworkError):
        return EXIT_NETWORK
    return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from .testing.demo import run_demo

        return run_demo()
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
    ref = Reference.parse(args.image)
    with _client(args, ref.registry) as client:
        if args.command == "tags":
            tags = client.tags(ref)
            sys.stdout.write(
                json.dumps(tags) + "\n" if args.json else "".join(f"{t}\n" for t in tags)
            )
        elif args.command == "manifest":
            sys.stdout.buffer.write(client.manifest(ref).raw)
        elif args.command == "digest":
            sys.stdout.write(client.digest(ref) + "\n")
        elif args.command == "blob":
            _blob(client, ref, args.output)
    return 0


def _blob(client: Client, ref: Reference, output: str) -> None:
    import os

    partial = output + ".partial"
    try:
        with open(partial, "wb") as file:
            size = client.blob(ref, file)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    if sys.stderr.isatty():
        sys.stderr.write(f"{ref.digest}: {size} bytes, digest verified\n")


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
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
