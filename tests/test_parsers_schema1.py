"""Signed schema1 manifests as Docker wrote them (issue 25 item 12).

containers/image's fixture ``schema2-to-schema1-by-docker.json`` is a manifest Docker signed
when converting a schema2 image; its JWS ``formatLength`` cuts the body five bytes before the
end of ``history``, so the payload it names (the first ``formatLength`` bytes, then
``formatTail``) is not JSON by itself. containers/image digests that payload (libtrust's
``ParsePrettySignature``, then ``manifest.Digest``) and decodes the served document. We must
too, without letting served bytes that the digest does not cover change what is decoded.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from regwire import DigestMismatch, ProtocolError
from regwire.sansio import Registry, Request, Response, drive
from regwire.sansio.digests import schema1_payload
from regwire.sansio.manifests import DOCKER_SCHEMA1_SIGNED, decode_manifest, verify_manifest
from regwire.testing import FakeNetwork

FIXTURE = (Path(__file__).parent / "fixtures" / "schema2-to-schema1-by-docker.json").read_bytes()
HOST = "registry.test"
URL = f"https://{HOST}/v2/library/httpd-copy/manifests/latest"
# manifest.Digest in containers/image: sha256 of ParsePrettySignature(...).Payload(), that is
# the first formatLength (10895) bytes and formatTail ("\n}"). Their tests do not state it.
DIGEST = "sha256:c8a08b90c4899c341695c8b52733faace453cda3c20b2f9ad2c4390eac8eaee4"
# containers/image's TestSchema1LayerInfos, base layer first.
E = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
LAYERS = [
    "sha256:6a5a5368e0c2d3e5909184fa28ddfd56072e7ff3ee9a945876f7eee5896ef5bb",
    E,
    E,
    E,
    "sha256:1bbf5d58d24c47512e234a5623474acf65ae00d4d1414272a893204f44cc680c",
    E,
    "sha256:8f5dc8a4b12c307ac84de90cdd9a7f3915d1be04c9388868ca118831099c67a9",
    E,
    E,
    E,
    E,
    "sha256:bbd6b22eb11afce63cc76f6bc41042d99f10d6024c96b655dafba930b8d25909",
    "sha256:960e52ecf8200cbd84e70eb2ad8678f4367e50d14357021872c10fa3fc5935fa",
    E,
    E,
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_the_digest_is_the_signed_payloads_as_libtrust_cuts_it() -> None:
    (signature,) = json.loads(FIXTURE)["signatures"]
    header = json.loads(base64.urlsafe_b64decode(signature["protected"] + "=" * 2))
    assert header["formatLength"] == 10895 and header["formatTail"] == "Cn0"
    payload = FIXTURE[:10895] + b"\n}"
    assert "sha256:" + hashlib.sha256(payload).hexdigest() == DIGEST
    assert schema1_payload(FIXTURE, URL) == payload


def _served(body: bytes, content_type: str | None, digest_header: str | None) -> Any:
    def handler(request: Request) -> Response:
        if "/manifests/" not in request.url:
            return Response(200, (("Docker-Distribution-API-Version", "registry/2.0"),), b"{}")
        headers = [] if content_type is None else [("Content-Type", content_type)]
        if digest_header is not None:
            headers.append(("Docker-Content-Digest", digest_header))
        return Response(200, tuple(headers), b"" if request.method == "HEAD" else body)

    return handler


@pytest.mark.parametrize("content_type", [DOCKER_SCHEMA1_SIGNED, "application/json", None])
@pytest.mark.parametrize("reference", ["latest", DIGEST])
@pytest.mark.parametrize("digest_header", [None, DIGEST])
def test_the_fixture_decodes_with_the_digest_containers_image_computes(
    content_type: str | None, reference: str, digest_header: str | None
) -> None:
    net = FakeNetwork(_served(FIXTURE, content_type, digest_header))
    manifest = drive(Registry(HOST, clock=net.clock).manifest("library/httpd-copy", reference), net)
    assert manifest.digest == DIGEST
    assert manifest.media_type == DOCKER_SCHEMA1_SIGNED
    assert manifest.raw == FIXTURE
    assert [layer.digest for layer in manifest.layers] == LAYERS
    assert len(manifest.v1_compatibility) == 15
    assert json.loads(manifest.v1_compatibility[0])["architecture"] == "amd64"


def test_verify_and_decode_the_fixture_directly() -> None:
    digest, body = verify_manifest(FIXTURE, None, DOCKER_SCHEMA1_SIGNED, URL)
    assert digest == DIGEST
    manifest = decode_manifest(FIXTURE, digest, DOCKER_SCHEMA1_SIGNED, URL, payload=body)
    assert [layer.digest for layer in manifest.layers] == LAYERS


def _read(body: bytes, expected: str | None) -> object:
    """`verify_manifest` then `decode_manifest`, as a pull does."""
    digest, payload = verify_manifest(body, expected, DOCKER_SCHEMA1_SIGNED, URL)
    return decode_manifest(body, digest, DOCKER_SCHEMA1_SIGNED, URL, payload=payload)


def _after_the_cut(extra: bytes) -> bytes:
    """The fixture with ``extra`` written after its signed part, before the signatures."""
    cut = FIXTURE.index(b',\n   "signatures"')
    return FIXTURE[:cut] + b"," + extra + FIXTURE[cut:]


EVIL = b'"fsLayers": [{"blobSum": "sha256:' + b"e" * 64 + b'"}]'


@pytest.mark.parametrize(
    "body",
    [
        _after_the_cut(EVIL),  # a field the digest does not cover overrides a signed one
        _after_the_cut(b'"architecture": "s390x"'),
        FIXTURE.replace(b"\n}\n", b',\n   "tag": "evil"\n}\n'),  # after the signatures
    ],
)
@pytest.mark.parametrize("expected", [DIGEST, None])
def test_bytes_outside_the_signed_payload_cannot_change_what_is_decoded(
    body: bytes, expected: str | None
) -> None:
    # The payload is the same bytes (hence the same digest): only unsigned bytes changed.
    assert schema1_payload(body, URL) == schema1_payload(FIXTURE, URL)
    with pytest.raises(ProtocolError, match="signed"):
        _read(body, expected)


def test_signatures_that_disagree_on_the_payload_are_refused() -> None:
    document = json.loads(FIXTURE)
    (signature,) = document["signatures"]
    other = dict(
        signature, protected=_b64(json.dumps({"formatLength": 10, "formatTail": "Cn0"}).encode())
    )
    body = FIXTURE.replace(
        json.dumps(signature["protected"]).encode(),
        json.dumps(signature["protected"]).encode()
        + b'\n      }, {"protected": '
        + json.dumps(other["protected"]).encode(),
    )
    assert len(json.loads(body)["signatures"]) == 2
    with pytest.raises(ProtocolError, match="disagree"):
        schema1_payload(body, URL)


def test_a_forged_payload_that_matches_a_pinned_digest_is_still_refused() -> None:
    # As tests/test_security.py: formatLength 0, the genuine document as formatTail.
    genuine = FIXTURE[:10895] + b"\n}"  # the fixture's own payload, not JSON by itself
    protected = _b64(json.dumps({"formatLength": 0, "formatTail": _b64(genuine)}).encode())
    forged = json.dumps(
        {
            "schemaVersion": 1,
            "history": [{"v1Compatibility": "{}"}],
            "fsLayers": [],
            "signatures": [{"protected": protected, "signature": "c2ln"}],
        }
    ).encode()
    with pytest.raises((ProtocolError, DigestMismatch)):
        _read(forged, DIGEST)
