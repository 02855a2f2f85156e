"""The pure half of signatures (issue 27): payloads as cosign writes and containers/image reads
them, the signature manifest appended to (never losing a signer), and verdicts with reasons."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire.sansio.digests import digest_of
from regwire.sansio.errors import ProtocolError, SignatureRejected
from regwire.sansio.manifests import OCI_MANIFEST, Manifest, decode_manifest
from regwire.sansio.signatures import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Attachments,
    Payload,
    Signature,
    VerifiedSignature,
    accept,
    attachment_tag,
    check_signature,
    make_payload,
    signature_documents,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sigstore"
DIGEST = "sha256:" + "ab" * 32


def fixture_signature(name: str, number: int = 1) -> tuple[bytes, dict[str, str], str]:
    """A containers/image ``dir:`` sigstore signature: payload, annotations, MIME type."""
    raw = (FIXTURES / name / f"signature-{number}").read_bytes()
    assert raw.startswith(b"\x00sigstore-json")
    document = json.loads(raw[len(b"\x00sigstore-json") :])
    return base64.b64decode(document["payload"]), document["annotations"], document["mimeType"]


def test_attachment_tags_are_cosigns() -> None:
    assert attachment_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"
    assert attachment_tag(DIGEST, "att").endswith(".att")
    with pytest.raises(ValueError, match="no attachment tag"):
        attachment_tag("nodigest")
    with pytest.raises(ValueError, match="no attachment tag"):
        attachment_tag(DIGEST, "exe")


def test_a_payload_is_byte_for_byte_what_cosign_writes() -> None:
    payload, _, _ = fixture_signature("dir-img-cosign-valid")
    parsed = Payload.parse(payload)
    assert make_payload(parsed.digest, parsed.identity) == payload


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in FIXTURES.glob("dir-img-cosign-*") if (p / "signature-1").exists()),
)
def test_every_fixture_payload_that_is_a_signature_parses(name: str) -> None:
    payload, annotations, mime = fixture_signature(name)
    if mime != SIMPLE_SIGNING:
        return
    parsed = Payload.parse(payload)
    assert parsed.digest.startswith("sha256:") and parsed.identity
    assert SIGNATURE_ANNOTATION in annotations


_identity = st.from_regex(
    r"[a-z0-9]{1,10}(\.[a-z]{1,5})?(:[0-9]{1,5})?/[a-z0-9/]{1,20}:[a-z0-9]{1,8}", fullmatch=True
)
_optional = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.text(max_size=20), st.integers(-(2**53), 2**53)),
    max_size=4,
)


@given(st.binary(min_size=32, max_size=32), _identity, _optional)
def test_payloads_round_trip(raw: bytes, identity: str, optional: dict[str, object]) -> None:
    digest = "sha256:" + raw.hex()
    parsed = Payload.parse(make_payload(digest, identity, optional))
    assert (parsed.digest, parsed.identity, dict(parsed.optional)) == (digest, identity, optional)


@given(st.binary(max_size=300))
def test_any_bytes_as_a_payload_are_a_protocol_error_or_a_payload(raw: bytes) -> None:
    try:
        Payload.parse(raw)
    except ProtocolError:
        pass


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"critical": {}, "optional": None, "extra": 1}, "exactly the fields"),
        (
            {
                "critical": {
                    "identity": {"docker-reference": "a/b"},
                    "image": {"docker-manifest-digest": DIGEST},
                    "type": "something else",
                },
                "optional": None,
            },
            "unrecognised signature type",
        ),
        (
            {
                "critical": {
                    "identity": {"docker-reference": "a/b"},
                    "image": {"docker-manifest-digest": "sha256:nothex"},
                    "type": "cosign container image signature",
                },
                "optional": None,
            },
            "invalid docker-manifest-digest",
        ),
        (
            {
                "critical": {
                    "identity": {"docker-reference": "a/b"},
                    "image": {"docker-manifest-digest": DIGEST},
                    "type": "cosign container image signature",
                },
                "optional": {"timestamp": 1.5},
            },
            "not an integer",
        ),
    ],
)
def test_payloads_are_parsed_strictly(document: object, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        Payload.parse(json.dumps(document).encode())


def _decoded(raw: bytes) -> Manifest:
    return decode_manifest(raw, digest_of(raw), OCI_MANIFEST, "test")


def test_the_signature_manifest_keeps_every_signer_and_adds_no_duplicate() -> None:
    first = make_payload(DIGEST, "example.com/a:1")
    raw, config, added = signature_documents(None, None, [(first, {SIGNATURE_ANNOTATION: "AAA="})])
    assert len(added) == 1 and added[0].digest == digest_of(first)
    manifest = _decoded(raw)
    assert manifest.config is not None and manifest.config.digest == digest_of(config)
    assert json.loads(config)["rootfs"] == {"type": "layers", "diff_ids": [digest_of(first)]}
    second = make_payload(DIGEST, "example.com/a:2")
    raw2, config2, added2 = signature_documents(
        manifest,
        config,
        [(second, {SIGNATURE_ANNOTATION: "BBB="}), (first, {SIGNATURE_ANNOTATION: "AAA="})],
    )
    again = _decoded(raw2)
    assert [layer.digest for layer in again.layers] == [digest_of(first), digest_of(second)]
    assert [layer.annotations[SIGNATURE_ANNOTATION] for layer in again.layers] == ["AAA=", "BBB="]
    assert len(added2) == 1
    assert json.loads(config2)["rootfs"]["diff_ids"] == [digest_of(first), digest_of(second)]
    # the same payload signed by another key is another layer: a second signer is kept
    raw3, _, added3 = signature_documents(again, config2, [(first, {SIGNATURE_ANNOTATION: "CCC="})])
    assert len(added3) == 1 and len(_decoded(raw3).layers) == 3


class _Key:
    """A key that accepts exactly the signatures it was told (the verdict logic under test is
    what happens around the key; real keys are tested in tests/test_trust*.py)."""

    def __init__(self, name: str, good: set[tuple[bytes, bytes]]) -> None:
        self._name, self.good = name, good

    @property
    def name(self) -> str:
        return self._name

    def verifies(self, payload: bytes, signature: bytes) -> bool:
        return (payload, signature) in self.good


def _signature(payload: bytes, raw: bytes) -> Signature:
    from regwire.sansio.manifests import Descriptor

    layer = Descriptor(
        SIMPLE_SIGNING,
        digest_of(payload),
        len(payload),
        annotations={SIGNATURE_ANNOTATION: base64.b64encode(raw).decode()},
    )
    return Signature(layer, payload)


def test_verdicts_say_why_each_signature_failed() -> None:
    good = make_payload(DIGEST, "example.com/a:1")
    other_digest = make_payload("sha256:" + "cd" * 32, "example.com/a:1")
    key = _Key("k1", {(good, b"s1"), (other_digest, b"s2")})
    anyone = lambda signed: None  # noqa: E731
    verdict = check_signature(_signature(good, b"s1"), [key], DIGEST, anyone)
    assert isinstance(verdict, VerifiedSignature) and verdict.key == "k1"
    assert "does not verify with k1" in str(
        check_signature(_signature(good, b"zz"), [key], DIGEST, anyone)
    )
    assert "not the manifest" in str(
        check_signature(_signature(other_digest, b"s2"), [key], DIGEST, anyone)
    )
    picky = lambda signed: f"{signed} is not ours"  # noqa: E731
    assert "is not ours" in str(check_signature(_signature(good, b"s1"), [key], DIGEST, picky))
    found = Attachments((_signature(good, b"zz"), _signature(other_digest, b"s2")))
    with pytest.raises(SignatureRejected) as caught:
        accept("example.com/a:1", found, [key], DIGEST, anyone)
    assert len(caught.value.reasons) == 2
    with pytest.raises(SignatureRejected, match="none exists \\(3 attachments"):
        accept("example.com/a:1", Attachments(others=3), [key], DIGEST, anyone)
    both = Attachments((_signature(good, b"zz"), _signature(good, b"s1")))
    assert [v.key for v in accept("r", both, [key], DIGEST, anyone)] == ["k1"]


def test_a_signature_wrapped_over_lines_is_read_as_go_reads_it() -> None:
    good = make_payload(DIGEST, "example.com/a:1")
    key = _Key("k1", {(good, b"s" * 60)})
    wrapped = _signature(good, b"s" * 60)
    text = wrapped.signature
    folded = Signature(
        replace(wrapped.layer, annotations={SIGNATURE_ANNOTATION: text[:40] + "\n" + text[40:]}),
        good,
    )
    assert isinstance(
        check_signature(folded, [key], DIGEST, lambda signed: None), VerifiedSignature
    )
    spaced = Signature(
        replace(wrapped.layer, annotations={SIGNATURE_ANNOTATION: text[:40] + " " + text[40:]}),
        good,
    )
    assert "not base64" in str(check_signature(spaced, [key], DIGEST, lambda signed: None))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"critical": {}, "optional": []}, "optional is not an object"),
        ({"critical": [], "optional": None}, "critical is not an object"),
        (
            {
                "critical": {
                    "identity": {"docker-reference": 7},
                    "image": {"docker-manifest-digest": DIGEST},
                    "type": "cosign container image signature",
                },
                "optional": None,
            },
            "docker-reference is not a string",
        ),
    ],
)
def test_more_malformed_payloads_are_protocol_errors(document: object, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        Payload.parse(json.dumps(document).encode())


def test_a_payload_names_both_a_digest_and_an_identity() -> None:
    with pytest.raises(ValueError, match="names a digest and an identity"):
        make_payload("", "example.com/a:1")


def test_what_the_tag_holds_decides_which_layers_are_signatures() -> None:
    from regwire.sansio.manifests import Descriptor
    from regwire.sansio.signatures import PAYLOAD_BYTES, payload_layers

    big = Descriptor(SIMPLE_SIGNING, DIGEST, PAYLOAD_BYTES + 1)
    raw, _, _ = signature_documents(None, None, [(make_payload(DIGEST, "a.com/b:1"), {})])
    manifest = _decoded(raw)
    wanted, others, problem = payload_layers(manifest, "sha256-x.sig")
    assert (len(wanted), others, problem) == (1, 0, "")
    oversized = replace(manifest, layers=(*manifest.layers, big))
    wanted, others, _ = payload_layers(oversized, "sha256-x.sig")
    assert (len(wanted), others) == (1, 1)  # a layer larger than a payload is not read
    docker = replace(manifest, media_type="application/vnd.docker.distribution.manifest.v2+json")
    assert "not a signature manifest" in payload_layers(docker, "sha256-x.sig")[2]


def test_check_signature_needs_a_key_and_reports_what_is_missing() -> None:
    good = make_payload(DIGEST, "example.com/a:1")
    key = _Key("k1", {(good, b"s1")})
    with pytest.raises(ValueError, match="at least one key"):
        check_signature(_signature(good, b"s1"), [], DIGEST, lambda signed: None)
    empty = Signature(replace(_signature(good, b"s1").layer, annotations={}), good)
    assert "no signature annotation" in str(check_signature(empty, [key], DIGEST, lambda s: None))
    garbage = b"not json at all"
    signed_garbage = _Key("k2", {(garbage, b"s2")})
    verdict = check_signature(_signature(garbage, b"s2"), [signed_garbage], DIGEST, lambda s: None)
    assert "not JSON" in str(verdict)  # only read once the key verified it


def test_a_signature_config_that_is_not_an_object_is_refused() -> None:
    raw, _, _ = signature_documents(None, None, [(make_payload(DIGEST, "a.com/b:1"), {})])
    with pytest.raises(ProtocolError, match="not a JSON object"):
        signature_documents(_decoded(raw), b"[]", [])


def test_the_signature_manifest_keeps_its_own_annotations() -> None:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": DIGEST,
            "size": 2,
        },
        "layers": [],
        "annotations": {"created-by": "cosign"},
    }
    existing = _decoded(json.dumps(document).encode())
    raw, _, _ = signature_documents(existing, b"{}", [(make_payload(DIGEST, "a.com/b:1"), {})])
    assert json.loads(raw)["annotations"] == {"created-by": "cosign"}
