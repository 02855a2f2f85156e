"""Keyless verification against hostile registry answers, and offline use (issue 28's review).

A referrer whose bundle blob has other bytes than its digest, or whose manifest is not a
manifest, is one problem among the bundles read, and the others are still judged; an
annotation holding a lone surrogate is a reason; with a ``trusted_root.json``, checking a
bundle and a ``.sig`` signature touches no network."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from regwire.keyless import check_bundle, check_keyless, load_trusted_root
from regwire.sansio import Registry, Request, Response, drive
from regwire.sansio.digests import digest_of
from regwire.sansio.keyless import BUNDLE_V03, CertificateIdentity, read_bundles
from regwire.sansio.manifests import Descriptor
from regwire.sansio.signatures import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Payload,
    Signature,
    VerifiedSignature,
)
from regwire.testing import FakeNetwork, ModelRegistry
from tests.test_keyless_core import _attach
from tests.test_trust_fixtures import SIGSTORE, fixture_layers

PUBLIC = Path(__file__).resolve().parent / "fixtures" / "sigstore"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


# --- a hostile referrer is one problem, not the end of the verification ---------------------


def test_a_referrer_whose_bundle_blob_does_not_match_its_digest_is_a_problem_not_an_exception() -> (
    None
):
    """A bundle blob served with other bytes (DigestMismatch) is a problem of its referrer: the
    valid bundle beside it is still read (and judged, with every .sig signature)."""
    model = ModelRegistry("reg.test")
    image = model.push_image("team/app", "1", None, [b"the layer"])
    good = _attach(model, image, [b'{"bundle": "good"}'])
    bad_bytes = b'{"bundle": "hostile"}'
    bad = _attach(model, image, [bad_bytes])

    def route(request: Request) -> Response:
        if request.url.endswith(digest_of(bad_bytes)) and "/blobs/" in request.url:
            return Response(200, (("Content-Type", "application/octet-stream"),), b'{"other": 1}')
        return model.handle(request)

    net = FakeNetwork(route)
    found = drive(read_bundles(Registry("reg.test", clock=net.clock), "team/app", image), net)
    assert (good, b'{"bundle": "good"}') in found.found
    (problem,) = found.problems
    assert problem.startswith(f"bundle {bad}: its bundle layer could not be read")
    assert "sent content with digest" in problem


def test_a_bundle_blob_larger_than_its_descriptor_says_is_a_problem() -> None:
    """The blob is read with the size its layer declares as the limit: a registry serving more
    (a hostile one, or another blob) is stopped there, and the referrer is one problem."""
    model = ModelRegistry("reg.test")
    image = model.push_image("team/app", "1", None, [b"the layer"])
    good = _attach(model, image, [b'{"bundle": "good"}'])
    small = b'{"bundle": "small"}'
    _attach(model, image, [small])
    served: list[int] = []

    def route(request: Request) -> Response:
        if request.url.endswith(digest_of(small)) and "/blobs/" in request.url:
            body = small + b" " * 4096
            served.append(len(body))
            return Response(200, (("Content-Type", "application/octet-stream"),), body)
        return model.handle(request)

    net = FakeNetwork(route)
    found = drive(read_bundles(Registry("reg.test", clock=net.clock), "team/app", image), net)
    assert found.found == ((good, b'{"bundle": "good"}'),)
    assert served and len(found.problems) == 1
    assert "could not be read" in found.problems[0]


def test_a_referrer_manifest_that_is_not_a_manifest_is_a_problem_not_an_exception() -> None:
    model = ModelRegistry("reg.test")
    image = model.push_image("team/app", "1", None, [b"the layer"])
    good = _attach(model, image, [b'{"bundle": "good"}'])
    junk = b"not a manifest"
    listed = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d,
            "size": 1,
            "artifactType": BUNDLE_V03,
        }
        for d in (digest_of(junk), good)
    ]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}

    def route(request: Request) -> Response:
        if "/referrers/" in request.url:
            return Response(200, (("Content-Type", OCI_INDEX),), json.dumps(index).encode())
        if request.url.endswith(digest_of(junk)):
            return Response(
                200, (("Content-Type", "application/vnd.oci.image.manifest.v1+json"),), junk
            )
        return model.handle(request)

    net = FakeNetwork(route)
    found = drive(read_bundles(Registry("reg.test", clock=net.clock), "team/app", image), net)
    assert (good, b'{"bundle": "good"}') in found.found
    assert len(found.problems) == 1
    assert digest_of(junk) in found.problems[0] and "could not be read" in found.problems[0]


# --- annotations a registry can serve: a reason, never an exception -------------------------

_LAYER = fixture_layers("dir-img-cosign-fulcio-rekor-valid")[0]
_ROOT = load_trusted_root(SIGSTORE / "trusted_root_pgi.json")
_SIGNER = CertificateIdentity(identity="mitr@redhat.com", issuer="https://github.com/login/oauth")


@pytest.mark.parametrize(
    "name", [SIGNATURE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, BUNDLE_ANNOTATION]
)
@pytest.mark.parametrize(
    "value", ["\ud800", "-----BEGIN CERTIFICATE-----\n\ud800\n-----END CERTIFICATE-----\n"]
)
def test_a_lone_surrogate_in_an_annotation_is_a_reason(name: str, value: str) -> None:
    notes = {**_LAYER.annotations, name: value}
    payload = _LAYER.payload
    signature = Signature(
        Descriptor(SIMPLE_SIGNING, digest_of(payload), len(payload), annotations=notes), payload
    )
    verdict = check_keyless(
        signature, _ROOT, _SIGNER, Payload.parse(payload).digest, lambda _: None
    )
    assert isinstance(verdict, str)


# --- offline: with a trusted_root.json, nothing touches the network -------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    tried: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        tried.append(args)
        raise OSError("network use in an offline verification")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


def test_checking_the_real_bundle_and_signature_with_a_trusted_root_is_offline(
    no_network: list[Any],
) -> None:
    root = load_trusted_root(PUBLIC / "trusted_root_pgi.json")
    raw = (PUBLIC / "oci-attestation.sigstore.json").read_bytes()
    signer = CertificateIdentity(
        identity="cody@soyland.com", issuer="https://github.com/login/oauth"
    )
    digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    assert isinstance(check_bundle("f", raw, root, signer, digest), VerifiedSignature)
    payload = _LAYER.payload
    signature = Signature(
        Descriptor(
            SIMPLE_SIGNING, digest_of(payload), len(payload), annotations=_LAYER.annotations
        ),
        payload,
    )
    verdict = check_keyless(signature, root, _SIGNER, Payload.parse(payload).digest, lambda _: None)
    assert isinstance(verdict, VerifiedSignature)
    assert no_network == []
