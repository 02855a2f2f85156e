"""What an edited image's documents say: pure functions from the old config, manifest or index
and the options given to the new one (`regwire.sansio.editing` carries them over the ends).

Theory of operation. An edit never changes a blob in place: it writes new documents that name
the old blobs. A config change (`Mutation`) is a new config blob, so a new manifest naming it,
so a new index entry where the image was one; a manifest annotation is a new manifest alone;
an appended layer is a new layer blob, a new config (``rootfs.diff_ids`` and ``history``
extended) and a new manifest; a conversion maps media types and keeps every blob's bytes. Each
document is read as JSON, changed where asked, and written back compactly with its other
fields and their order kept, so that the same inputs give the same bytes, hence the same
digests, run after run (reproducible builds): nothing here reads a clock, the environment or
a random source; times are given (``--time``, ``SOURCE_DATE_EPOCH``, or the driver's now).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from .decoding import decode_json, parse_time
from .errors import ProtocolError, RegistryError
from .manifests import (
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
)

__all__ = [
    "COMPRESSIONS",
    "DOCKER_LAYER",
    "DOCKER_LAYER_GZIP",
    "EditRefused",
    "FAMILIES",
    "Mutation",
    "OCI_CONFIG",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "append_to_config",
    "base_annotations",
    "build_index",
    "convert_index",
    "convert_manifest",
    "family_of",
    "flatten_config",
    "format_time",
    "index_entry",
    "index_type",
    "layer_media_type",
    "mutate_config",
    "parse_command",
    "parse_pairs",
    "parse_time_option",
    "rebase_config",
    "rebase_layers",
    "platform_of",
    "platform_matches",
    "remove_entries",
    "rewrite_index",
    "rewrite_manifest",
    "when",
]

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
OCI_FOREIGN = "application/vnd.oci.image.layer.nondistributable.v1.tar"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = DOCKER_LAYER + ".gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

FAMILIES = ("oci", "docker")
COMPRESSIONS = ("gzip", "zstd", "none")

# Docker -> OCI for every type an image holds; the reverse is its inverse, and OCI types with
# no Docker spelling (zstd layers, other nondistributable forms) are refused going that way.
_TO_OCI = {
    DOCKER_SCHEMA2: OCI_MANIFEST,
    DOCKER_LIST: OCI_INDEX,
    DOCKER_CONFIG: OCI_CONFIG,
    DOCKER_LAYER: OCI_LAYER,
    DOCKER_LAYER_GZIP: OCI_LAYER_GZIP,
    DOCKER_FOREIGN: OCI_FOREIGN + "+gzip",
}
_TO_DOCKER = {oci: docker for docker, oci in _TO_OCI.items()}


class EditRefused(RegistryError, ValueError):
    """An edit that cannot be made as asked (a Docker manifest given annotations, an index of
    mixed formats without ``--to``, a config change on an index without a platform). A
    `ValueError` too: the options, not the registry, are at fault (the command exits 2)."""

    def __init__(self, what: str, problem: str) -> None:
        self.what, self.problem = what, problem
        super().__init__(f"{what}: {problem}")


# -- options ---------------------------------------------------------------------------------


_PORT = re.compile(r"([0-9]{1,5})(?:/(tcp|udp|sctp))?\Z")


def _port(text: str) -> str:
    match = _PORT.match(text)
    if not match or not 0 < int(match.group(1)) < 65536:
        raise ValueError(f"exposed port {text!r} must be PORT[/tcp|udp|sctp], PORT from 1 to 65535")
    return f"{int(match.group(1))}/{match.group(2) or 'tcp'}"


@dataclass(frozen=True, slots=True)
class Mutation:
    """What ``mutate`` changes: config fields (``labels``, ``env`` added or replaced by key;
    ``entrypoint``, ``cmd``, ``workdir``, ``user`` replaced; ``exposed_ports`` added), the
    config's ``created``, and the manifest's ``annotations``. Validated when made, so that a
    bad option is a `ValueError` before any request."""

    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    workdir: str | None = None
    user: str | None = None
    exposed_ports: tuple[str, ...] = ()
    created: datetime | None = None

    def __post_init__(self) -> None:
        for option, pairs in (("label", self.labels), ("annotation", self.annotations)):
            for key, _ in pairs:
                if not key:
                    raise ValueError(f"a --{option} needs a key (KEY=VALUE)")
        for key, _ in self.env:
            if not key or "=" in key:
                raise ValueError(f"environment variable name {key!r} must be non-empty, no '='")
        object.__setattr__(self, "exposed_ports", tuple(_port(p) for p in self.exposed_ports))
        if self.created is not None and self.created.tzinfo is None:
            raise ValueError("created must be an aware datetime (give its time zone)")

    @property
    def changes_config(self) -> bool:
        """Whether the config changes (else only the manifest's annotations do)."""
        return bool(
            self.labels
            or self.env
            or self.exposed_ports
            or self.created is not None
            or any(v is not None for v in (self.entrypoint, self.cmd, self.workdir, self.user))
        )

    @property
    def changes_anything(self) -> bool:
        return self.changes_config or bool(self.annotations)


def parse_pairs(texts: list[str] | tuple[str, ...], option: str) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` options as pairs, in order (a later key wins where they are applied)."""
    pairs = []
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise ValueError(f"--{option} {text!r} must be KEY=VALUE")
        pairs.append((key, value))
    return tuple(pairs)


def parse_command(text: str, option: str) -> tuple[str, ...]:
    """``--entrypoint``/``--cmd``: a JSON array of strings (``[]`` clears it), as a Dockerfile's
    exec form; a text that is not JSON is one word (``/bin/app``)."""
    try:
        value = json.loads(text)
    except ValueError:
        if text.lstrip().startswith("["):
            raise ValueError(f"--{option} {text!r} is not a JSON array of strings") from None
        return (text,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"--{option} {text!r} must be a JSON array of strings")
    return tuple(value)


def parse_time_option(text: str, what: str = "--time") -> datetime:
    """``--time`` or ``SOURCE_DATE_EPOCH``: whole seconds since the epoch, or an RFC 3339 time."""
    stripped = text.strip()
    if stripped.isdigit():
        try:
            return datetime.fromtimestamp(int(stripped), timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{what} {text!r} is out of range") from None
    try:
        return parse_time(stripped, "", what)
    except ProtocolError:
        raise ValueError(
            f"{what} {text!r} must be seconds since 1970 or an RFC 3339 time (2024-01-02T03:04:05Z)"
        ) from None


def when(given: datetime | str | None, source_date_epoch: str | None, now: datetime) -> datetime:
    """The time an appended layer's ``created`` and history take: ``--time`` if given, else
    ``SOURCE_DATE_EPOCH`` if set (reproducible builds' variable), else ``now`` (the driver's
    clock, as ``docker build`` does)."""
    if isinstance(given, datetime):
        return given if given.tzinfo is not None else given.replace(tzinfo=timezone.utc)
    if given is not None:
        return parse_time_option(given)
    if source_date_epoch:
        return parse_time_option(source_date_epoch, "SOURCE_DATE_EPOCH")
    return now


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, as Go writes it (no fraction when whole seconds)."""
    utc = moment.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


# -- documents -------------------------------------------------------------------------------


def _dump(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _object(raw: bytes, url: str, what: str) -> dict[str, Any]:
    document = decode_json(raw, url, what)
    if not isinstance(document, dict):
        raise ProtocolError(url, f"{what} must be a JSON object")
    return document


def _section(document: dict[str, Any], key: str, url: str) -> dict[str, Any]:
    value = document.get(key)
    if value is None:
        value = document[key] = {}
    if not isinstance(value, dict):
        raise ProtocolError(url, f"config's {key} must be a JSON object")
    return value


def mutate_config(raw: bytes, mutation: Mutation, url: str) -> bytes:
    """The config ``raw`` with ``mutation``'s config fields set (its other fields kept)."""
    document = _object(raw, url, "config")
    config = _section(document, "config", url)
    if mutation.labels:
        labels = _section(config, "Labels", url)
        labels.update(dict(mutation.labels))
    if mutation.env:
        env = config.get("Env") or []
        if not isinstance(env, list):
            raise ProtocolError(url, "config's Env must be a list")
        for key, value in mutation.env:
            entry = f"{key}={value}"
            at = next((i for i, e in enumerate(env) if str(e).partition("=")[0] == key), None)
            if at is None:
                env.append(entry)
            else:
                env[at] = entry
        config["Env"] = env
    for key, command in (("Entrypoint", mutation.entrypoint), ("Cmd", mutation.cmd)):
        if command is not None:
            config[key] = list(command)
    if mutation.workdir is not None:
        config["WorkingDir"] = mutation.workdir
    if mutation.user is not None:
        config["User"] = mutation.user
    if mutation.exposed_ports:
        ports = _section(config, "ExposedPorts", url)
        for port in mutation.exposed_ports:
            ports.setdefault(port, {})
    if mutation.created is not None:
        document["created"] = format_time(mutation.created)
    return _dump(document)


def append_to_config(
    raw: bytes, diff_ids: list[str], created: datetime, created_by: str, url: str
) -> bytes:
    """The config ``raw`` with ``diff_ids`` added to ``rootfs.diff_ids``, one history entry per
    layer (``created``, ``created_by``) and ``created`` moved to ``created``."""
    document = _object(raw, url, "config")
    rootfs = _section(document, "rootfs", url)
    rootfs.setdefault("type", "layers")
    ids = rootfs.get("diff_ids") or []
    if not isinstance(ids, list):
        raise ProtocolError(url, "config's rootfs.diff_ids must be a list")
    rootfs["diff_ids"] = [*ids, *diff_ids]
    history = document.get("history") or []
    if not isinstance(history, list):
        raise ProtocolError(url, "config's history must be a list")
    stamp = format_time(created)
    history.extend({"created": stamp, "created_by": created_by} for _ in diff_ids)
    document["history"] = history
    document["created"] = stamp
    return _dump(document)


def flatten_config(raw: bytes, diff_id: str, created: datetime, created_by: str, url: str) -> bytes:
    """The config ``raw`` of an image made one layer (``diff_id``): ``rootfs.diff_ids`` that
    one, ``history`` one entry saying so, ``created`` moved; how it runs is kept."""
    document = _object(raw, url, "config")
    rootfs = _section(document, "rootfs", url)
    rootfs["type"] = "layers"
    rootfs["diff_ids"] = [diff_id]
    stamp = format_time(created)
    document["history"] = [{"created": stamp, "created_by": created_by}]
    document["created"] = stamp
    return _dump(document)


def platform_of(raw: bytes, url: str) -> dict[str, Any] | None:
    """An index entry's ``platform`` from an image's config: os, architecture, variant,
    os.version, os.features (None when the config names no os and architecture: an artifact)."""
    document = _object(raw, url, "config")
    os, arch = document.get("os"), document.get("architecture")
    if not isinstance(os, str) or not isinstance(arch, str) or not os or not arch:
        return None
    platform: dict[str, Any] = {"architecture": arch, "os": os}
    for key in ("os.version", "variant"):
        value = document.get(key)
        if isinstance(value, str) and value:
            platform[key] = value
    features = document.get("os.features")
    if isinstance(features, list) and features and all(isinstance(f, str) for f in features):
        platform["os.features"] = list(features)
    return platform


def platform_matches(platform: dict[str, Any] | None, wanted: str) -> bool:
    """Whether an entry's ``platform`` is ``wanted`` (``os/arch[/variant]``, variant optional)."""
    if not platform:
        return False
    parts = wanted.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"platform {wanted!r} must be OS/ARCH or OS/ARCH/VARIANT")
    if [platform.get("os"), platform.get("architecture")] != parts[:2]:
        return False
    return len(parts) == 2 or platform.get("variant") == parts[2]


def family_of(media_type: str) -> str | None:
    """ "oci" or "docker" for a manifest or index media type, else None."""
    if media_type in (OCI_MANIFEST, OCI_INDEX):
        return "oci"
    if media_type in (DOCKER_SCHEMA2, DOCKER_LIST):
        return "docker"
    return None


def index_type(media_types: list[str], to: str | None, what: str) -> str:
    """The index type for entries of ``media_types``: the one their family has, or ``to``'s;
    mixed families without ``to`` are refused (each entry would have to be converted)."""
    if to is not None:
        if to not in FAMILIES:
            raise ValueError(f"--to {to!r} must be oci or docker")
        return OCI_INDEX if to == "oci" else DOCKER_LIST
    families = {family_of(t) or "oci" for t in media_types}
    if len(families) > 1:
        raise EditRefused(
            what,
            "the entries mix OCI and Docker manifests; give --to oci or --to docker to convert "
            "them to one format",
        )
    return DOCKER_LIST if families == {"docker"} else OCI_INDEX


def index_entry(
    media_type: str, digest: str, size: int, platform: dict[str, Any] | None
) -> dict[str, Any]:
    """One entry of an index, as image-spec ``image-index.md`` lays it out."""
    entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    if platform:
        entry["platform"] = dict(platform)
    return entry


def build_index(
    media_type: str, entries: list[dict[str, Any]], annotations: dict[str, str], what: str
) -> bytes:
    """A new index (``media_type``) of ``entries``, annotated (OCI only)."""
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if annotations:
        if media_type == DOCKER_LIST:
            raise EditRefused(what, "a Docker manifest list carries no annotations; use --to oci")
        document["annotations"] = dict(annotations)
    return _dump(document)


def _annotate(document: dict[str, Any], annotations: dict[str, str], what: str) -> None:
    if not annotations:
        return
    if document.get("mediaType") in (DOCKER_SCHEMA2, DOCKER_LIST):
        raise EditRefused(
            what,
            "a Docker manifest carries no annotations; convert it first (regwire convert --to oci)",
        )
    current = document.get("annotations") or {}
    document["annotations"] = {**current, **annotations}


def rewrite_manifest(
    manifest: Manifest,
    *,
    config: Descriptor | None = None,
    layers: tuple[Descriptor, ...] = (),
    annotations: dict[str, str] | None = None,
    what: str = "",
    replace_layers: bool = False,
) -> bytes:
    """The image manifest with a new ``config``, ``layers`` appended (or instead of its own,
    ``replace_layers``), ``annotations`` merged."""
    document = _object(manifest.raw, what, "manifest")
    _annotate(document, annotations or {}, what)
    if config is not None:
        old = document.get("config")
        document["config"] = {
            **(old if isinstance(old, dict) else {}),
            "mediaType": config.media_type,
            "digest": config.digest,
            "size": config.size,
        }
    if layers or replace_layers:
        old_layers = [] if replace_layers else document.get("layers") or []
        document["layers"] = [*old_layers, *(d.to_json() for d in layers)]
    return _dump(document)


def rewrite_index(
    index: Manifest,
    replaced: dict[str, Descriptor],
    annotations: dict[str, str] | None = None,
    *,
    media_type: str | None = None,
    what: str = "",
) -> bytes:
    """The index with each entry whose digest is in ``replaced`` pointing at the new manifest
    (its platform and annotations kept), ``annotations`` merged, its type ``media_type``."""
    document = _object(index.raw, what, "index")
    if media_type is not None:
        document["mediaType"] = media_type
    _annotate(document, annotations or {}, what)
    entries = []
    for entry in document.get("manifests") or []:
        new = replaced.get(str(entry.get("digest"))) if isinstance(entry, dict) else None
        if new is not None:
            entry = {
                **entry,
                "mediaType": new.media_type,
                "digest": new.digest,
                "size": new.size,
            }
        entries.append(entry)
    document["manifests"] = entries
    return _dump(document)


def remove_entries(
    index: Manifest, platforms: Sequence[str], digests: Sequence[str], what: str
) -> bytes:
    """The index without the entries of ``platforms`` (``os/arch[/variant]``) or ``digests``
    (its other fields kept); each one given must match an entry, so that a typo is refused
    rather than leaving the index as it was."""
    document = _object(index.raw, what, "index")
    entries = document.get("manifests") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProtocolError(what, "index manifests must be a list of objects")
    for platform in platforms:
        if not any(platform_matches(e.get("platform"), platform) for e in entries):
            raise EditRefused(what, f"the index has no entry for platform {platform}")
    for digest in digests:
        if not any(e.get("digest") == digest for e in entries):
            raise EditRefused(what, f"the index has no entry {digest}")
    document["manifests"] = [
        e
        for e in entries
        if not any(platform_matches(e.get("platform"), p) for p in platforms)
        and e.get("digest") not in digests
    ]
    return _dump(document)


BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


def _diff_ids(document: dict[str, Any], url: str) -> list[str]:
    rootfs = document.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ProtocolError(url, "config's rootfs.diff_ids must be a list of strings")
    return list(ids)


def _history(document: dict[str, Any], url: str) -> list[Any]:
    history = document.get("history") or []
    if not isinstance(history, list):
        raise ProtocolError(url, "config's history must be a list")
    return history


def rebase_layers(
    image: Manifest, old_base: Manifest, new_base: Manifest, what: str
) -> tuple[Descriptor, ...]:
    """The image's layers on the new base: the new base's (their media types in the image's
    format), then the image's own (those above the old base's); an image not built on the old
    base is refused."""
    count = len(old_base.layers)
    mine = [d.digest for d in image.layers[:count]]
    if mine != [d.digest for d in old_base.layers]:
        raise EditRefused(
            what,
            f"the image is not built on the old base: its first {count} layers are not the "
            "old base's (name the base it was built on with --old-base)",
        )
    family = family_of(image.media_type) or "oci"
    new = tuple(
        replace(d, media_type=_mapped(d.media_type, family, what, f"the new base's layers[{i}]"))
        for i, d in enumerate(new_base.layers)
    )
    return (*new, *image.layers[count:])


def rebase_config(raw: bytes, old_base: bytes, new_base: bytes, what: str) -> bytes:
    """The image's config on the new base: ``rootfs.diff_ids`` the new base's then the
    image's own, ``history`` the new base's then the image's own (those after the old base's
    entries), os and architecture checked to be the new base's; how it runs is kept."""
    document = _object(raw, what, "config")
    old = _object(old_base, what, "old base's config")
    new = _object(new_base, what, "new base's config")
    ids, old_ids, new_ids = (_diff_ids(d, what) for d in (document, old, new))
    if ids[: len(old_ids)] != old_ids:
        raise EditRefused(what, "the image's diff IDs do not start with the old base's")
    for key in ("os", "architecture", "variant"):
        mine, theirs = document.get(key), new.get(key)
        if mine != theirs and (key != "variant" or (mine and theirs)):
            raise EditRefused(
                what,
                f"the new base is for {key} {theirs!r}, the image for {mine!r}: "
                "pick the new base's platform (--platform)",
            )
    history, old_history = _history(document, what), _history(old, what)
    own = history[len(old_history) :] if history[: len(old_history)] == old_history else history
    document["rootfs"] = {**document["rootfs"], "diff_ids": [*new_ids, *ids[len(old_ids) :]]}
    document["history"] = [*_history(new, what), *own]
    return _dump(document)


def base_annotations(name: str, digest: str) -> dict[str, str]:
    """What an image says of its base (image-spec ``annotations.md``), as crane rebase writes."""
    return {BASE_NAME: name, BASE_DIGEST: digest}


# -- conversion ------------------------------------------------------------------------------


def layer_media_type(manifest_type: str, compression: str, what: str) -> str:
    """The media type of a new layer compressed ``compression`` in a ``manifest_type`` image."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression {compression!r} must be gzip, zstd or none")
    if manifest_type == DOCKER_SCHEMA2:
        if compression == "zstd":
            raise EditRefused(
                what,
                "a Docker manifest cannot hold a zstd layer; convert the image first "
                "(regwire convert --to oci) or use --compress gzip",
            )
        return DOCKER_LAYER_GZIP if compression == "gzip" else DOCKER_LAYER
    if manifest_type != OCI_MANIFEST:
        raise EditRefused(what, f"a {manifest_type} manifest is not an image to add a layer to")
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}[compression]


def _mapped(media_type: str, to: str, what: str, field: str) -> str:
    table = _TO_OCI if to == "oci" else _TO_DOCKER
    if media_type in table:
        return table[media_type]
    if media_type in (_TO_DOCKER if to == "oci" else _TO_OCI):
        return media_type  # already in the target family
    if to == "docker" and media_type == OCI_LAYER_ZSTD:
        raise EditRefused(
            what, "a Docker manifest cannot hold a zstd layer; keep the image OCI (--to oci)"
        )
    raise EditRefused(what, f"{field} has media type {media_type!r}, which has no {to} form")


def _descriptor_to(entry: dict[str, Any], to: str, what: str, field: str, warned: list[str]) -> Any:
    entry = dict(entry)
    entry["mediaType"] = _mapped(str(entry.get("mediaType", "")), to, what, field)
    if to == "docker":
        for key in ("annotations", "artifactType", "data"):
            if key in entry:
                del entry[key]
                warned.append(f"{what}: {field}'s {key} dropped (Docker has no such field)")
    return entry


def convert_manifest(manifest: Manifest, to: str, what: str) -> tuple[bytes, list[str]]:
    """An image manifest in ``to``'s format: its type, its config's and layers' types mapped
    (every blob kept byte for byte); what Docker cannot carry is dropped with a warning
    (annotations) or refused (zstd layers, a subject, an artifact type)."""
    if to not in FAMILIES:
        raise ValueError(f"--to {to!r} must be oci or docker")
    document = _object(manifest.raw, what, "manifest")
    warned: list[str] = []
    if to == "docker":
        for key in ("subject", "artifactType"):
            if key in document:
                raise EditRefused(
                    what, f"the manifest has a {key}, which a Docker manifest cannot carry"
                )
        if document.pop("annotations", None):
            warned.append(f"{what}: the manifest's annotations dropped (Docker has none)")
    document["mediaType"] = _mapped(manifest.media_type, to, what, "the manifest")
    config = document.get("config")
    if not isinstance(config, dict):
        raise ProtocolError(what, "manifest has no config")
    document["config"] = _descriptor_to(config, to, what, "the config", warned)
    document["layers"] = [
        _descriptor_to(layer, to, what, f"layers[{i}]", warned)
        for i, layer in enumerate(document.get("layers") or [])
    ]
    return _dump(document), warned


def convert_index(
    index: Manifest, to: str, replaced: dict[str, Descriptor], what: str
) -> tuple[bytes, list[str]]:
    """An index in ``to``'s format naming the converted children (``replaced``)."""
    if to not in FAMILIES:
        raise ValueError(f"--to {to!r} must be oci or docker")
    document = _object(index.raw, what, "index")
    warned: list[str] = []
    if to == "docker":
        for key in ("subject", "artifactType"):
            if key in document:
                raise EditRefused(what, f"the index has a {key}, which a Docker list cannot carry")
        if document.pop("annotations", None):
            warned.append(f"{what}: the index's annotations dropped (Docker has none)")
    document["mediaType"] = _mapped(index.media_type, to, what, "the index")
    entries = []
    for i, entry in enumerate(document.get("manifests") or []):
        new = replaced.get(entry.get("digest"))
        entry = _descriptor_to(entry, to, what, f"manifests[{i}]", warned)
        if new is not None:
            entry.update(mediaType=new.media_type, digest=new.digest, size=new.size)
        entries.append(entry)
    document["manifests"] = entries
    return _dump(document), warned
