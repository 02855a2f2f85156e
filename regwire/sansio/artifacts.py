"""OCI artifacts (image-spec v1.1 "Guidelines for Artifact Usage"), as oras writes them.

An artifact is an image manifest whose layers are files: each a layer named by its
``org.opencontainers.image.title`` annotation, the config the empty descriptor
(``application/vnd.oci.empty.v1+json``, the two bytes ``{}``) unless one is given, and an
``artifactType`` saying what it is. A ``subject`` attaches it to another manifest (an SBOM to
an image). Building the document is pure; reading and writing files is the drivers'.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .manifests import OCI_MANIFEST, Descriptor, Manifest

__all__ = [
    "EMPTY_CONFIG",
    "EMPTY_DATA",
    "FILE_LAYER",
    "TITLE",
    "UNKNOWN_ARTIFACT",
    "artifact_manifest",
    "titled_layers",
]

TITLE = "org.opencontainers.image.title"
EMPTY_DATA = b"{}"
EMPTY_CONFIG = Descriptor(
    "application/vnd.oci.empty.v1+json",
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    2,
)
FILE_LAYER = "application/vnd.oci.image.layer.v1.tar"  # what oras gives a file by default
UNKNOWN_ARTIFACT = "application/vnd.unknown.artifact.v1"  # oras's default artifactType


def artifact_manifest(
    layers: Sequence[Descriptor],
    *,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
    subject: Descriptor | None = None,
    config: Descriptor | None = None,
) -> bytes:
    """The manifest of an artifact made of ``layers`` (their descriptors, titles included)."""
    chosen = config or EMPTY_CONFIG
    config_json = chosen.to_json()
    if config is None:
        config_json["data"] = "e30="  # the empty descriptor may carry its two bytes inline
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type or UNKNOWN_ARTIFACT,
        "config": config_json,
        "layers": [layer.to_json() for layer in layers],
    }
    if subject is not None:
        document["subject"] = {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        }
    if annotations:
        document["annotations"] = dict(annotations)
    return json.dumps(document, indent=2).encode()


def titled_layers(manifest: Manifest) -> list[tuple[str, Descriptor]]:
    """The layers of an artifact that name a file, with the names as the manifest gives them."""
    return [
        (layer.annotations[TITLE], layer) for layer in manifest.layers if TITLE in layer.annotations
    ]
