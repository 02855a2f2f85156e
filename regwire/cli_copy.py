"""``regwire copy`` and ``regwire sync``: moving images between registries and OCI layouts.

Both take skopeo's names for their flags, so that a script written for skopeo reads the same.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .drivers._client import CopyTarget, copy_target
from .drivers.sync import Client
from .sansio.copying import CopyProgress
from .sansio.layout import Layout
from .sansio.reference import Reference

__all__ = ["add_copy_parser", "copy_command", "Meter"]


def add_copy_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    copy = sub.add_parser(
        "copy",
        parents=[common],
        help="copy an image or index between registries and OCI layouts (oci:DIR[:TAG])",
    )
    copy.add_argument("source", metavar="SOURCE", help="[docker://]REF or oci:DIR[:TAG]")
    copy.add_argument(
        "destination", metavar="DESTINATION", help="[docker://]REGISTRY/REPO[:TAG] or oci:DIR[:TAG]"
    )
    copy.add_argument(
        "--platform",
        action="append",
        metavar="OS/ARCH[/VARIANT]",
        help="copy only this image of an index (repeatable; the tag names the first)",
    )
    copy.add_argument("--all", action="store_true", help="every platform (the default)")
    copy.add_argument("--referrers", action="store_true", help="signatures, SBOMs too")
    add_end_flags(copy)


def add_end_flags(parser: argparse.ArgumentParser) -> None:
    for end in ("src", "dest"):
        parser.add_argument(f"--{end}-creds", metavar="USER[:PASS]", help=f"credentials ({end})")
        parser.add_argument(
            f"--{end}-tls-verify", default="true", choices=["true", "false"], help=f"({end})"
        )


class Meter:
    """A copy's progress on one terminal line (stderr), when stderr is a terminal: blobs sent
    and skipped, bytes and rate, for the image being copied and in total."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = self.drawn = time.monotonic()
        self.bytes = self.sent = self.present = self.manifests = 0
        self.label = ""
        self.image_bytes = 0

    def start(self, label: str) -> None:
        self.label, self.image_bytes = label, 0

    def __call__(self, event: CopyProgress) -> None:
        if event.state == "bytes":
            self.bytes += event.size
            self.image_bytes += event.size
        elif event.state == "sent":
            self.sent += 1
        elif event.state in ("present", "mounted"):
            self.present += 1
        elif event.state == "manifest":
            self.manifests += 1
        now = time.monotonic()
        if self.enabled and (now - self.drawn > 0.1 or event.state != "bytes"):
            self.drawn = now
            self.draw(now)

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return (
            f"{self.sent} blobs sent ({self.bytes / 2**20:.1f} MiB, "
            f"{self.bytes / elapsed / 2**20:.1f} MiB/s), {self.present} already there, "
            f"{self.manifests} manifests, {elapsed:.1f} s"
        )

    def draw(self, now: float) -> None:
        rate = self.bytes / max(now - self.started, 1e-6) / 2**20
        sys.stderr.write(
            f"\r\x1b[K{self.label}: {self.image_bytes / 2**20:.1f} MiB | total "
            f"{self.sent} blobs sent, {self.present} there, {self.bytes / 2**20:.1f} MiB, "
            f"{rate:.1f} MiB/s"
        )
        sys.stderr.flush()

    def done(self) -> None:
        """The one-line summary (stderr), ending the progress line."""
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
        sys.stderr.write(f"regwire: {self.summary()}\n")


def end_name(end: Reference | Layout) -> str:
    return end.url if isinstance(end, Layout) else f"{end.registry}/{end.repository}"


def client_for(
    args: argparse.Namespace, target: CopyTarget, extra: dict[str, Any] | None = None
) -> Client:
    """A client for the two ends: ``--creds`` only when both are on one registry, each end's
    own ``--src-creds``/``--dest-creds`` and ``--*-tls-verify``."""
    from .cli import _client_kwargs, _parse_creds, _UsageError

    ends = [
        (target.source, args.src_creds, args.src_tls_verify),
        (target.destination, args.dest_creds, args.dest_tls_verify),
    ]
    names = [end.registry for end, _, _ in ends if isinstance(end, Reference)]
    kwargs = _client_kwargs(args, names)
    insecure = set(kwargs["insecure_registries"])
    given: dict[str, Any] = {}
    for end, creds, verify in ends:
        if not isinstance(end, Reference):
            if creds is not None:
                raise _UsageError(f"{end.url} is an OCI layout: it takes no credentials")
            continue
        if verify == "false":
            insecure.add(end.registry)
        if creds is not None:
            if end.registry in given and given[end.registry] != _parse_creds(creds):
                raise _UsageError("--src-creds and --dest-creds differ for one registry: give one")
            given[end.registry] = _parse_creds(creds)
    kwargs["insecure_registries"] = sorted(insecure)
    client = Client(**kwargs, **(extra or {}))
    for name, credentials in given.items():
        client._core.registry(name, credentials=credentials)  # this end's account alone
    return client


def copy_command(args: argparse.Namespace) -> int:
    from .cli import _print, _warn

    target = copy_target(args.source, args.destination, args.platform)
    meter = Meter(sys.stderr.isatty())
    meter.start(args.source)
    with client_for(args, target) as client:
        try:
            digest = client.copy(
                args.source,
                args.destination,
                platforms=args.platform,
                referrers=args.referrers,
                progress=meter,
            )
        finally:
            _warn(client.warnings)
    if meter.enabled:
        meter.done()
    named = end_name(target.destination)
    separator = ":" if target.tag else "@"
    _print(
        {
            "Source": args.source.removeprefix("docker://"),
            "Destination": f"{named}{separator}{target.tag or digest}",
            "Digest": digest,
        }
    )
    return 0
