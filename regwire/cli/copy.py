"""``regwire copy`` and ``regwire sync``: moving images between registries and OCI layouts.

Both take skopeo's names for their flags, so that a script written for skopeo reads the same.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from ..drivers.archives import Archive
from ..drivers.places import CopyTarget, copy_target
from ..drivers.sync import Client
from ..mirroring import Item
from ..sansio.auth import Credentials
from ..sansio.copying import CopyProgress
from ..sansio.errors import NotFound, RegistryError
from ..sansio.layout import Layout
from ..sansio.reference import Reference
from .common import (
    Subcommand,
    UsageError,
    client_kwargs,
    exit_code,
    parse_creds,
    print_json,
    registries_conf,
    warn,
)

__all__ = [
    "SUBCOMMANDS",
    "Meter",
    "add_copy_parser",
    "add_sync_parser",
    "copy_command",
    "sync_command",
]


def add_copy_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    copy = sub.add_parser(
        "copy",
        parents=[common],
        help="copy an image or index between registries, OCI layouts (oci:DIR[:TAG]) and "
        "archives (docker-archive:FILE[:REF|:@N], oci-archive:FILE[:TAG])",
    )
    copy.add_argument(
        "source", metavar="SOURCE", help="[docker://]REF, oci:DIR[:TAG] or an archive"
    )
    copy.add_argument(
        "destination",
        metavar="DESTINATION",
        help="[docker://]REGISTRY/REPO[:TAG], oci:DIR[:TAG] or an archive",
    )
    copy.add_argument(
        "--platform",
        action="append",
        metavar="OS/ARCH[/VARIANT]",
        help="copy only this image of an index (repeatable; the tag names the first)",
    )
    copy.add_argument("--all", action="store_true", help="every platform (the default)")
    copy.add_argument("--referrers", action="store_true", help="signatures, SBOMs too")
    add_trust_flags(copy)
    add_end_flags(copy)


def add_trust_flags(parser: argparse.ArgumentParser) -> None:
    """skopeo's signature flags of ``copy``."""
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="a containers-policy.json that must accept the source (else exit 6, nothing written)",
    )
    parser.add_argument(
        "--remove-signatures",
        action="store_true",
        help="leave the source's signatures (cosign's .sig/.att/.sbom tags) behind",
    )
    parser.add_argument(
        "--sign-by-sigstore-private-key",
        metavar="KEY",
        help="sign the copy at the destination with this cosign private key",
    )
    parser.add_argument(
        "--sign-passphrase-file",
        metavar="FILE",
        help="the key's passphrase (else $COSIGN_PASSWORD, else a prompt on a terminal)",
    )
    parser.add_argument(
        "--sign-identity",
        metavar="REF",
        help="the reference the signature claims (default: the destination's)",
    )


def trust_options(args: argparse.Namespace) -> dict[str, Any]:
    """What the signature flags ask of `Client.copy` (the passphrase asked for only when a
    key will be used)."""
    options: dict[str, Any] = {
        "policy": args.policy,
        "remove_signatures": args.remove_signatures,
    }
    if args.sign_by_sigstore_private_key:
        from ..keys import obtain_passphrase, require_sign_extra

        require_sign_extra("signing")  # before a passphrase is asked for
        options["sign_by"] = args.sign_by_sigstore_private_key
        options["sign_passphrase"] = obtain_passphrase(args.sign_passphrase_file, confirm=False)
        if args.sign_identity:
            options["sign_identity"] = str(
                Reference.parse(args.sign_identity.removeprefix("docker://"))
            )
    elif args.sign_identity or args.sign_passphrase_file:
        raise UsageError(
            "--sign-identity and --sign-passphrase-file go with --sign-by-sigstore-private-key"
        )
    return options


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
        self._lock = threading.Lock()  # blobs are copied in several threads

    def start(self, label: str) -> None:
        self.label, self.image_bytes = label, 0

    def __call__(self, event: CopyProgress) -> None:
        with self._lock:
            self._count(event)

    def _count(self, event: CopyProgress) -> None:
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


def end_name(end: Reference | Layout | Archive) -> str:
    return f"{end.registry}/{end.repository}" if isinstance(end, Reference) else end.url


def client_for(
    args: argparse.Namespace, target: CopyTarget, extra: dict[str, Any] | None = None
) -> Client:
    """A client for the two ends: ``--creds`` only when both are on one registry, each end's
    own ``--src-creds``/``--dest-creds`` and ``--*-tls-verify``."""

    ends = [
        (target.source, args.source, args.src_creds, args.src_tls_verify, target.source_places),
        (
            target.destination,
            args.destination,
            args.dest_creds,
            args.dest_tls_verify,
            (target.destination_place,) if target.destination_place else (),
        ),
    ]
    # --creds is for the registries as typed; --insecure and --*-tls-verify=false also for
    # every place registries.conf leads an end to (its mirrors, its location).
    typed = [_typed_registry(text) for end, text, *_ in ends if isinstance(end, Reference)]
    kwargs = client_kwargs(args, typed)
    insecure = set(kwargs["insecure_registries"])
    if insecure:
        insecure.update(p.reference.registry for *_, places in ends for p in places)
    given: dict[str, Any] = {}
    for end, text, creds, verify, places in ends:
        if not isinstance(end, Reference):
            if creds is not None:
                raise UsageError(f"{end.url} is an OCI layout: it takes no credentials")
            continue
        name = _typed_registry(text)
        if verify == "false":
            insecure.add(name)
            insecure.update(place.reference.registry for place in places)
        if creds is not None:
            if given.get(name.lower(), parse_creds(creds)) != parse_creds(creds):
                raise UsageError(
                    f"--src-creds and --dest-creds differ for one registry ({name}): give one"
                )
            given[name.lower()] = parse_creds(creds)
    kwargs["insecure_registries"] = sorted(insecure)
    # Each end's account, for its own host alone (never a mirror or a rewritten location).
    return Client(**kwargs, registries_conf=registries_conf(args), accounts=given, **(extra or {}))


def _typed_registry(text: str) -> str:
    """The registry a copy end names as typed (before registries.conf applies)."""
    return Reference.parse(text.removeprefix("docker://")).registry


def _one_of_an_index(args: argparse.Namespace, target: CopyTarget) -> bool:
    """Whether the copy took the default platform into a docker-archive from a registry
    (which says so on stderr when the source turns out to be an index)."""
    destination = target.destination
    docker = isinstance(destination, Archive) and destination.docker
    return docker and not args.platform and isinstance(target.source, Reference)


def _typed(text: str) -> str:
    return text.removeprefix("docker://")


def copy_command(args: argparse.Namespace) -> int:
    trusting = trust_options(args)  # usage errors and the passphrase before any request

    target = copy_target(args.source, args.destination, args.platform, registries_conf(args))
    meter = Meter(sys.stderr.isatty())
    meter.start(args.source.removeprefix("docker://"))
    with client_for(args, target) as client:
        try:
            digest = client.copy(
                args.source,
                args.destination,
                platforms=args.platform,
                referrers=args.referrers,
                progress=meter,
                **trusting,
            )
            if _one_of_an_index(args, target) and client.digest(_typed(args.source)) != digest:
                sys.stderr.write(
                    "regwire: the source is an index and a docker-archive holds images: its "
                    "linux/amd64 image was copied (--platform OS/ARCH to choose another)\n"
                )
        finally:
            warn(client.warnings)
    if meter.enabled:
        meter.done()
    named = end_name(target.destination)
    separator = ":" if target.tag else "@"
    print_json(
        {
            "Source": args.source.removeprefix("docker://"),
            "Destination": f"{named}{separator}{target.tag or digest}",
            "Digest": digest,
        }
    )
    return 0


# -- sync ---------------------------------------------------------------------------------------


def add_sync_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sync = sub.add_parser(
        "sync",
        parents=[common],
        help="copy many images: every tag of a repository, or a skopeo sync YAML file",
    )
    sync.add_argument("--src", required=True, choices=["docker", "yaml"], help="SOURCE's kind")
    sync.add_argument("--dest", required=True, choices=["docker", "oci"], help="DESTINATION's kind")
    sync.add_argument("source", metavar="SOURCE", help="REGISTRY/REPO[:TAG], or a YAML file")
    sync.add_argument(
        "destination", metavar="DESTINATION", help="REGISTRY[/PREFIX], or a directory of layouts"
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, copy nothing")
    sync.add_argument("--keep-going", action="store_true", help="copy the rest after a failure")
    sync.add_argument(
        "--shard", metavar="K/N", help="only every N-th image of the plan, from the K-th (0-based)"
    )
    sync.add_argument("--scoped", action="store_true", help="keep the registry and whole path")
    sync.add_argument("--all", action="store_true", help="every platform (the default)")
    sync.add_argument("--jobs", "-j", type=int, default=4, metavar="N", help="images at once")
    add_end_flags(sync)


def _sync_sources(args: argparse.Namespace) -> list[Any]:
    from ..mirroring import SyncSource, Wanted, parse_sync_file

    if args.src == "yaml":
        import yaml  # a dependency: the sync file is a format of the command's own

        try:
            with open(args.source, encoding="utf-8") as file:
                document = yaml.safe_load(file)
        except yaml.YAMLError as exc:
            raise UsageError(f"{args.source} is not YAML: {exc}") from None
        return parse_sync_file(document, args.source)
    ref = Reference.parse(args.source.removeprefix("docker://"))
    repository = Reference.parse(f"{ref.registry}/{ref.repository}")
    chosen = ref.digest or ref.tag
    credentials = parse_creds(args.src_creds) if args.src_creds else None
    wanted = Wanted(repository, (chosen,) if chosen else ())
    return [SyncSource(ref.registry, (wanted,), credentials, args.src_tls_verify == "true")]


def sync_command(args: argparse.Namespace) -> int:
    """Plan (list tags, choose, name destinations, order, shard), then copy concurrently."""
    from ..mirroring import destination, parse_shard, plan, source_text

    shard = parse_shard(args.shard) if args.shard else None
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    sources = _sync_sources(args)
    dest_registry = None
    if args.dest == "docker":
        dest_registry = Reference.parse(f"{args.destination.rstrip('/')}/x").registry
    names = [s.registry for s in sources] + ([dest_registry] if dest_registry else [])
    kwargs = client_kwargs(args, names)
    insecure = set(kwargs["insecure_registries"])
    insecure.update(
        Reference.parse(f"{s.registry}/x").registry for s in sources if not s.tls_verify
    )
    if dest_registry and args.dest_tls_verify == "false":
        insecure.add(dest_registry)
    kwargs["insecure_registries"] = sorted(insecure)
    cert_dirs = {s.registry: s.cert_dir for s in sources if s.cert_dir}
    if cert_dirs and not kwargs["cert_dir"]:
        kwargs["cert_dir"] = cert_dirs
    failures: list[tuple[str, str, BaseException]] = []
    accounts: dict[str, Credentials] = {}  # each for its own host alone
    for name, account in [
        *((source.registry, source.credentials) for source in sources),
        (dest_registry, parse_creds(args.dest_creds) if args.dest_creds else None),
    ]:
        if name and account is not None:
            if accounts.get(name.lower(), account) != account:
                raise UsageError(f"two different credentials were given for {name}: give one")
            accounts[name.lower()] = account
    with Client(**kwargs, registries_conf=registries_conf(args), accounts=accounts) as client:
        items: list[Item] = []
        for source in sources:
            for wanted in source.wanted:
                repository = f"{wanted.reference.registry}/{wanted.reference.repository}"
                try:
                    listed = client.tags(repository) if wanted.needs_listing else []
                except RegistryError as exc:
                    if not args.keep_going:
                        raise
                    failures.append((repository, "", exc))
                    continue
                for chosen in wanted.select(listed):
                    items.append(
                        Item(
                            source_text(wanted.reference, chosen),
                            destination(
                                wanted.reference, chosen, args.dest, args.destination, args.scoped
                            ),
                        )
                    )
        ordered = plan(items)
        _refuse_collisions(ordered, UsageError)
        if shard is not None:
            ordered = ordered[shard[0] :: shard[1]]
        if args.dry_run:
            print_json([{"Source": i.source, "Destination": i.destination} for i in ordered])
            return 0
        results = _run_plan(client, ordered, args.jobs, args.keep_going, failures)
        warn(client.warnings)
    copied = [r for r in results if r["Status"] == "copied"]
    current = [r for r in results if r["Status"] == "up to date"]
    for where, to, error in failures:
        sys.stderr.write(f"regwire: {where}{' -> ' + to if to else ''}: {error}\n")
    print_json(
        {
            "Copied": copied,
            "UpToDate": current,
            "Failed": [{"Source": s, "Destination": d, "Error": str(e)} for s, d, e in failures],
            "NotAttempted": len(ordered) - len(results) - sum(1 for f in failures if f[1]),
        }
    )
    shard_text = f" in shard {args.shard}" if args.shard else ""
    sys.stderr.write(
        f"regwire: sync: {len(copied)} copied, {len(current)} already up to date, "
        f"{len(failures)} failed, of {len(ordered)} images{shard_text}\n"
    )
    return exit_code(failures[0][2]) if failures else 0


def _refuse_collisions(items: list[Item], error: type[Exception]) -> None:
    """Two sources planned onto one destination (``team/app`` and ``other/app`` into one
    layout folder or one repository without ``--scoped``) would overwrite each other's tags,
    the last copy silently winning: refuse the plan before anything is copied."""
    seen: dict[str, str] = {}
    for item in items:
        earlier = seen.setdefault(item.destination, item.source)
        if earlier != item.source:
            raise error(
                f"{earlier} and {item.source} would both be copied to {item.destination}; "
                "pass --scoped to keep each source's registry and path apart"
            )


def _holds_whole(layout: Layout, digest: str, depth: int = 0) -> bool:
    """Whether ``layout`` holds everything of the manifest ``digest``: every manifest of an
    index (nested ones included), every config and layer. A copy writes its tag last, but a
    layout written by an older regwire or another tool may hold a top manifest alone."""
    from ..sansio.errors import RegistryError as Failed

    if depth > 16 or not layout.has_blob(digest):
        return False
    try:
        manifest = layout.manifest(digest)
    except Failed:
        return False
    if manifest.is_index:
        return all(_holds_whole(layout, d.digest, depth + 1) for d in manifest.manifests)
    needed = [manifest.config, *manifest.layers] if manifest.config else list(manifest.layers)
    return all(d.urls or layout.has_blob(d.digest) for d in needed)


def _up_to_date(client: Client, item: Item) -> str | None:
    """The digest the destination already has for this item, if it is the source's and (for a
    layout) everything it names is there."""
    from ..drivers.layout import open_layout
    from ..sansio.layout import parse_layout_reference

    if "@" in item.source:
        digest: str = item.source.rpartition("@")[2]
        layout = parse_layout_reference(item.destination)
        if layout is not None:
            return digest if _holds_whole(open_layout(layout[0]), digest) else None
        try:
            client.manifest(f"{item.destination}@{digest}")
        except NotFound:
            return None
        return digest
    wanted: str = client.digest(item.source)
    layout = parse_layout_reference(item.destination)
    try:
        if layout is not None:
            there = open_layout(layout[0])
            have = there.resolve(layout[1]).digest if there.exists() else None
            if have is not None and not _holds_whole(there, have):
                have = None
        else:
            have = client.digest(item.destination)
    except NotFound:
        have = None
    return wanted if have == wanted else None


def _run_plan(
    client: Client,
    items: list[Item],
    jobs: int,
    keep_going: bool,
    failures: list[tuple[str, str, BaseException]],
) -> list[dict[str, str]]:
    """Copy every item, ``jobs`` at once, each a thread over the one shared client; after a
    failure, without ``keep_going``, nothing new is started."""
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    def one(item: Item) -> dict[str, str]:
        have = _up_to_date(client, item)
        if have is not None:
            status, digest = "up to date", have
        else:
            status, digest = "copied", client.copy(item.source, item.destination)
        return {
            "Source": item.source,
            "Destination": item.destination,
            "Digest": digest,
            "Status": status,
        }

    results: list[dict[str, str]] = []
    pending = list(reversed(items))
    running: dict[Future[dict[str, str]], Item] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            while pending and len(running) < jobs and (keep_going or not failures):
                item = pending.pop()
                running[pool.submit(one, item)] = item
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                try:
                    result = future.result()
                except RegistryError as exc:
                    failures.append((item.source, item.destination, exc))
                    continue
                results.append(result)
                if sys.stderr.isatty():
                    sys.stderr.write(f"regwire: {result['Status']}: {item.destination}\n")
    results.sort(key=lambda r: (r["Source"], r["Destination"]))
    return results


SUBCOMMANDS = (
    Subcommand("copy", add_copy_parser, copy_command),
    Subcommand("sync", add_sync_parser, sync_command),
)
