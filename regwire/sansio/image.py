"""Image configs, in every spelling registries have served them, decoded into `Image`.

An image's config arrives three ways: the OCI/Docker config blob of a schema2 or OCI manifest,
the first ``v1Compatibility`` history entry of a schema1 manifest, and the V1 API's image JSON.
Docker before 1.2 spelled some keys in snake case (``container_config``, ``docker_version``),
later ones in CamelCase; the seed accepted both (``ImagePre012``) and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .decoding import decode_json, parse_time
from .errors import ProtocolError
from .manifests import Descriptor, Notices, _Fields

__all__ = ["Image", "ImageConfig", "Notices", "decode_image", "parse_time"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """How a container of the image runs: Docker's ``Config`` object, in Python names."""

    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    hostname: str = ""
    domainname: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    """An image: the seed's fields, plus the digest, media type and layers of its manifest."""

    id: str = ""
    parent: str = ""
    comment: str = ""
    created: datetime | None = None
    container: str = ""
    container_config: ImageConfig | None = None
    docker_version: str = ""
    author: str = ""
    config: ImageConfig = field(default_factory=ImageConfig)
    architecture: str = ""
    os: str = ""
    variant: str | None = None
    size: int = 0
    pull_by_id: bool = False
    digest: str | None = None
    media_type: str | None = None
    layers: tuple[str, ...] = ()
    layer_descriptors: tuple[Descriptor, ...] = ()
    config_digest: str | None = None
    raw_config: bytes = field(default=b"", repr=False)
    history: tuple[dict[str, Any], ...] = field(default=(), hash=False, repr=False)
    notices: Notices = field(default_factory=Notices)


def _commands(fields: _Fields, key: str) -> tuple[str, ...] | None:
    value = fields.value.get(key)
    if value is None:
        return None
    if isinstance(value, str):  # Docker 1.0 wrote a bare string
        return (value,)
    return tuple(fields.string_list(key))


def _keys(fields: _Fields, key: str) -> tuple[str, ...]:
    value = fields.value.get(key)
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ProtocolError(fields.url, f"{fields.path}{key} must be an object")
    return tuple(sorted(value))


def _config(fields: _Fields | None) -> ImageConfig | None:
    if fields is None:
        return None
    return ImageConfig(
        env=tuple(fields.string_list("Env")),
        cmd=_commands(fields, "Cmd"),
        entrypoint=_commands(fields, "Entrypoint"),
        labels=fields.string_map("Labels"),
        exposed_ports=_keys(fields, "ExposedPorts"),
        volumes=_keys(fields, "Volumes"),
        working_dir=fields.string("WorkingDir", ""),
        user=fields.string("User", ""),
        stop_signal=fields.string("StopSignal", ""),
        hostname=fields.string("Hostname", ""),
        domainname=fields.string("Domainname", ""),
    )


def _either(fields: _Fields, new: str, old: str) -> str:
    return fields.string(new) if new in fields.value else fields.string(old, "")


def decode_image(raw: bytes | str, url: str, **facts: Any) -> Image:
    """Decode an image config (any era's spelling) into an `Image`.

    ``facts`` are `Image` fields known from elsewhere (the manifest's digest and layers), which
    take precedence over the config's; passing them here saves copying the frozen result.

    Raises:
        ProtocolError: not JSON, or a field of the wrong type.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    fields = _Fields(decode_json(data, url, "image config"), url, "")
    created_text = fields.opt_string("created")
    container_config = fields.object("ContainerConfig") or fields.object("container_config")
    size = fields.value.get("Size", fields.value.get("size", 0))
    if not isinstance(size, int) or isinstance(size, bool):
        raise ProtocolError(url, "Size must be an integer")
    history = fields.array("history")
    if not all(isinstance(entry, dict) for entry in history):
        raise ProtocolError(url, "history must be a list of objects")
    values: dict[str, Any] = dict(  # noqa: C408 - keyword form mirrors Image's fields
        id=fields.string("id", ""),
        parent=fields.string("parent", ""),
        comment=fields.string("comment", ""),
        created=parse_time(created_text, url, "created") if created_text else None,
        container=fields.string("container", ""),
        container_config=_config(container_config),
        docker_version=_either(fields, "docker_version", "DockerVersion"),
        author=fields.string("author", ""),
        config=_config(fields.object("config") or fields.object("Config")) or ImageConfig(),
        architecture=fields.string("architecture", ""),
        os=fields.string("os", ""),
        variant=fields.opt_string("variant"),
        size=size,
        raw_config=data,
        history=tuple(history),
    )
    values.update(facts)
    return Image(**values)
