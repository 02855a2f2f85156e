"""Hostile input from a registry or a payload ends in a typed error, bounded (issue 27, found in
review): a payload larger than its descriptor says is not read whole, a signature config nested
too deep for json, a signed payload with a timestamp that is not a finite integer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import regwire
from regwire.keys import generate_key
from regwire.sansio import signatures
from regwire.sansio.errors import RegistryError
from regwire.sansio.manifests import OCI_MANIFEST
from regwire.sansio.signatures import (
    PAYLOAD_BYTES,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Payload,
    attachment_tag,
)
from regwire.testing.model import ModelRegistry
from regwire.testing.server import serve_model

PASS = b"pw"


def _serve() -> Any:
    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.push_image("team/app", "v1", {"config": {"Labels": {"a": "b"}}})
        return model

    return serve_model(make)


def _sig_manifest(model: ModelRegistry, digest: str, config: bytes, layers: list[dict]) -> None:
    config_digest = model.put_blob("team/app", config)
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    model.put_manifest("team/app", raw, OCI_MANIFEST, tag=attachment_tag(digest))


def test_a_payload_larger_than_its_descriptor_says_is_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """read_signatures (signatures.py:276, 295) filters layers by the *declared* size, then
    fetches with Registry.blob's 16 MiB limit: a layer that claims 100 bytes but is 8 MiB is
    read and kept whole (x256 layers: 4 GiB held in memory by one verify)."""
    server, model = _serve()
    host = server.authority
    digest = model.repositories["team/app"].tags["v1"]
    big = b"{" + b" " * (8 * 1024 * 1024) + b"}"
    layer_digest = model.put_blob("team/app", big)
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "digest": layer_digest,
        "size": 100,  # a lie
        "annotations": {SIGNATURE_ANNOTATION: "AAAA"},
    }
    _sig_manifest(model, digest, b"{}", [layer])
    seen: list[int] = []
    original = signatures.check_signature

    def spy(signature: Any, *args: Any) -> Any:
        seen.append(len(signature.payload))
        return original(signature, *args)

    monkeypatch.setattr(signatures, "check_signature", spy)
    _, public = generate_key(PASS)
    client = regwire.Client(insecure_registries=[host])
    with server, client, pytest.raises(RegistryError):
        client.verify(f"{host}/team/app:v1", key=public)
    assert all(size <= PAYLOAD_BYTES for size in seen), seen


def test_signing_beside_a_hostile_signature_config_is_a_regwire_error(tmp_path: Path) -> None:
    """sign() loads the existing .sig manifest's config with json.loads catching only
    ValueError (signatures.py:389-392): a deeply nested config escapes as RecursionError."""
    server, model = _serve()
    host = server.authority
    digest = model.repositories["team/app"].tags["v1"]
    _sig_manifest(model, digest, b"[" * 200_000 + b"]" * 200_000, [])
    private, _ = generate_key(PASS)
    client = regwire.Client(insecure_registries=[host])
    with server, client, pytest.raises(RegistryError):
        client.sign(f"{host}/team/app:v1", private, passphrase=PASS)


@pytest.mark.parametrize("stamp", [b"Infinity", b"NaN", b"1e400"])
def test_a_payload_with_a_non_finite_timestamp_is_a_protocol_error(stamp: bytes) -> None:
    """Payload.parse (signatures.py:160-167): int(inf) / int(nan) raise OverflowError /
    ValueError outside the ProtocolError contract (reachable once a trusted key signed it)."""
    raw = (
        b'{"critical":{"identity":{"docker-reference":"r.example/a:1"},"image":'
        b'{"docker-manifest-digest":"sha256:' + b"0" * 64 + b'"},"type":"cosign container '
        b'image signature"},"optional":{"timestamp":' + stamp + b"}}"
    )
    with pytest.raises(RegistryError):
        Payload.parse(raw)
