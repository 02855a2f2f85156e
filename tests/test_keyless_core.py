"""The pure half of keyless verification (`regwire.sansio.keyless`): identity rules and the
Rekor bundle and entry readers, with hypothesis.

Properties: any text is a `RekorBundle` or an `InvalidLogEntry` (never another exception), a
rendered bundle reads back to what was rendered, and so does a ``hashedrekord`` body; an
identity rule's verdict equals a reference implementation written here (cosign's: exact values
compared whole, regular expressions searched anywhere).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio import Registry, Request, Response, drive
from regwire.sansio.digests import digest_of
from regwire.sansio.keyless import (
    BUNDLE_V03,
    Bundles,
    CertificateIdentity,
    HashedRekord,
    InvalidIdentityRule,
    InvalidLogEntry,
    RekorBundle,
    bundle_content,
    check_entry_claims,
    logged_times,
    read_bundles,
    statement_digests,
)
from regwire.testing import FakeNetwork, ModelRegistry

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
FEW = settings(max_examples=150, deadline=None)


def render_bundle(stamp: bytes, body: bytes, time: int, index: int, log_id: str) -> str:
    payload = {
        "body": base64.b64encode(body).decode(),
        "integratedTime": time,
        "logIndex": index,
        "logID": log_id,
    }
    return json.dumps(
        {"SignedEntryTimestamp": base64.b64encode(stamp).decode(), "Payload": payload}
    )


@FEW
@given(
    stamp=st.binary(max_size=80),
    body=st.binary(max_size=200),
    time=st.integers(-(2**62), 2**62),
    index=st.integers(0, 2**62),
    log_id=texts,
)
def test_a_rendered_bundle_reads_back(
    stamp: bytes, body: bytes, time: int, index: int, log_id: str
) -> None:
    bundle = RekorBundle.parse(render_bundle(stamp, body, time, index, log_id))
    assert (bundle.signature, bundle.body, bundle.integrated_time) == (stamp, body, time)
    assert (bundle.log_index, bundle.log_id) == (index, log_id)
    assert isinstance(bundle.payload, dict) and set(bundle.payload) == {
        "body",
        "integratedTime",
        "logIndex",
        "logID",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@FEW
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(
            st.sampled_from(["SignedEntryTimestamp", "Payload", "extra"]), json_values
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_bytes_are_a_bundle_or_an_invalid_log_entry(raw: bytes) -> None:
    for parse in (RekorBundle.parse, HashedRekord.parse):
        problem = "parsed"
        try:
            parse(raw)
        except InvalidLogEntry as exc:
            problem = exc.problem
        assert problem  # parsed, or refused saying why: no other exception escapes


def test_a_bundle_with_a_numeric_log_id_or_too_large_is_refused() -> None:
    payload = {"body": "AA==", "integratedTime": 1, "logIndex": 1, "logID": 7}
    with pytest.raises(InvalidLogEntry, match="logID is not a string"):
        RekorBundle.parse(json.dumps({"SignedEntryTimestamp": "AA==", "Payload": payload}))
    with pytest.raises(InvalidLogEntry, match="too large to be one"):
        RekorBundle.parse(b" " * (1 << 20) + b"{}")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"SignedEntryTimestamp": "AA==", "Payload": {}}, "exactly the fields"),
        ({"SignedEntryTimestamp": "!", "Payload": {}}, "SignedEntryTimestamp is not base64"),
        ({"SignedEntryTimestamp": "AA==", "Payload": {}, "more": 1}, "exactly the fields"),
        (
            {
                "SignedEntryTimestamp": "AA==",
                "Payload": {"body": "AA==", "integratedTime": "1", "logIndex": 1, "logID": "x"},
            },
            "integratedTime is not an integer",
        ),
        (
            {
                "SignedEntryTimestamp": "AA==",
                "Payload": {"body": "AA==", "integratedTime": True, "logIndex": 1, "logID": "x"},
            },
            "integratedTime is not an integer",
        ),
    ],
)
def test_bundle_refusals_name_the_field(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidLogEntry, match=re.escape(problem)):
        RekorBundle.parse(json.dumps(document))


def render_body(signature: bytes, key: bytes, sha256: str, **changes: Any) -> bytes:
    body: dict[str, Any] = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": sha256}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(key).decode()},
            },
        },
    }
    body.update(changes)
    return json.dumps(body).encode()


@FEW
@given(
    signature=st.binary(max_size=80),
    key=st.binary(max_size=80),
    sha=st.text("0123456789abcdefABCDEF", min_size=64, max_size=64),
)
def test_a_rendered_hashedrekord_reads_back(signature: bytes, key: bytes, sha: str) -> None:
    entry = HashedRekord.parse(render_body(signature, key, sha))
    assert entry == HashedRekord(signature, key, sha.lower())


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kind": "intoto"}, 'a "intoto" "0.0.1" entry, not hashedrekord 0.0.1'),
        ({"apiVersion": "0.0.2"}, "not hashedrekord 0.0.1"),
        ({"spec": []}, "no spec object"),
        ({"spec": {"signature": {}, "data": {}}}, '"signature.publicKey"'),
        ({"spec": {"signature": [], "data": {}}}, 'lacks its "signature" or "data"'),
        ({"spec": {"signature": {"publicKey": {}}, "data": {}}}, '"data.hash"'),
    ],
)
def test_hashedrekord_refusals_name_the_field(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidLogEntry, match=re.escape(problem)):
        HashedRekord.parse(render_body(b"s", b"k", "0" * 64, **changes))


def test_another_hash_algorithm_or_value_is_refused() -> None:
    body = json.loads(render_body(b"s", b"k", "0" * 64))
    body["spec"]["data"]["hash"]["algorithm"] = "sha512"
    with pytest.raises(InvalidLogEntry, match="not sha256"):
        HashedRekord.parse(json.dumps(body).encode())
    with pytest.raises(InvalidLogEntry, match="not a SHA-256"):
        HashedRekord.parse(render_body(b"s", b"k", "0" * 63))


def test_entry_claims_each_have_their_reason() -> None:
    entry = HashedRekord(b"sig", b"pem", "a" * 64)
    assert check_entry_claims(entry, b"sig", b"der", b"der", "a" * 64) is None
    assert "another signature" in str(check_entry_claims(entry, b"x", b"der", b"der", "a" * 64))
    assert "not one PEM block" in str(check_entry_claims(entry, b"sig", b"der", None, "a" * 64))
    assert "another key" in str(check_entry_claims(entry, b"sig", b"der", b"other", "a" * 64))
    assert "another payload" in str(check_entry_claims(entry, b"sig", b"der", b"der", "b" * 64))


# --- identity rules ----------------------------------------------------------------------------

names = st.sampled_from(
    [
        "me@example.com",
        "you@example.com",
        "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main",
        "https://github.com/o/other/.github/workflows/x.yml@refs/tags/v1",
    ]
)
issuers = st.sampled_from(
    ["https://token.actions.githubusercontent.com", "https://github.com/login/oauth", "x"]
)
patterns = st.sampled_from(["example", "^me@", r"\.com$", "^https://github\\.com/o/r/", "github"])


def issuer_fits(rule: tuple[str | None, ...], issuer: str) -> bool:
    exact, pattern = rule[1], rule[3]
    return issuer == exact if exact is not None else re.search(pattern or "", issuer) is not None


def name_fits(rule: tuple[str | None, ...], sans: list[str]) -> bool:
    exact, pattern = rule[0], rule[2]
    if exact is not None:
        return exact in sans
    return any(re.search(pattern or "", name) is not None for name in sans)


@FEW
@given(
    exact_identity=st.booleans(),
    exact_issuer=st.booleans(),
    identity=names,
    issuer=issuers,
    identity_re=patterns,
    issuer_re=patterns,
    sans=st.lists(names, max_size=2),
    cert_issuer=issuers,
)
def test_an_identity_rule_decides_as_cosign_does(
    exact_identity: bool,
    exact_issuer: bool,
    identity: str,
    issuer: str,
    identity_re: str,
    issuer_re: str,
    sans: list[str],
    cert_issuer: str,
) -> None:
    rule = (
        identity if exact_identity else None,
        issuer if exact_issuer else None,
        None if exact_identity else identity_re,
        None if exact_issuer else issuer_re,
    )
    verdict = CertificateIdentity(*rule).judge(sans, cert_issuer)
    if not issuer_fits(rule, cert_issuer):
        assert verdict is not None and verdict.startswith("issuer mismatch")
    elif not name_fits(rule, sans):
        assert verdict is not None and verdict.startswith("no signature for this identity")
    else:
        assert verdict is None


def test_identity_rule_refusals() -> None:
    with pytest.raises(InvalidIdentityRule, match="exactly one of the certificate identity"):
        CertificateIdentity(issuer="x")
    with pytest.raises(InvalidIdentityRule, match="exactly one of the OIDC issuer"):
        CertificateIdentity(identity="a", issuer="x", issuer_regexp="y")
    with pytest.raises(InvalidIdentityRule, match="does not compile"):
        CertificateIdentity(identity_regexp="(", issuer="x")
    with pytest.raises(InvalidIdentityRule, match="must not be empty"):
        CertificateIdentity(identity="", issuer="x")
    rule = CertificateIdentity(identity="a@b", issuer="https://i")
    assert "no OIDC issuer extension" in str(rule.judge(["a@b"], None))
    assert str(rule) == 'identity "a@b" from "https://i"'


# --- finding bundles: read_bundles over the model registry ----------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _attach(
    model: ModelRegistry,
    subject: str,
    layers: list[bytes],
    *,
    artifact_type: str = BUNDLE_V03,
    layer_type: str = BUNDLE_V03,
    stored: bool = True,
    names_subject: bool = True,
) -> str:
    """A referrer of ``subject`` in ``team/app`` with ``layers`` (their blobs stored or not;
    the manifest naming its subject or not)."""
    empty = model.put_blob("team/app", b"{}")
    descriptors = []
    for layer in layers:
        if stored:
            model.put_blob("team/app", layer)
        descriptors.append(
            {"mediaType": layer_type, "digest": digest_of(layer), "size": len(layer)}
        )
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": descriptors,
    }
    if names_subject:
        document["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    return model.put_manifest("team/app", json.dumps(document).encode(), OCI_MANIFEST)


def _read(model: ModelRegistry, subject: str, route: Any = None) -> Bundles:
    net = FakeNetwork(route or model.handle)
    return drive(read_bundles(Registry("reg.test", clock=net.clock), "team/app", subject), net)


def test_read_bundles_reads_each_bundle_and_names_what_it_cannot() -> None:
    model = ModelRegistry("reg.test")
    image = model.push_image("team/app", "1", None, [b"the layer"])
    good = _attach(model, image, [b'{"bundle": 1}'])
    _attach(model, image, [b"an sbom"], artifact_type="application/spdx+json")
    two = _attach(model, image, [b"one", b"two"])
    missing = _attach(model, image, [b"not stored"], stored=False)
    found = _read(model, image)
    assert found.found == ((good, b'{"bundle": 1}'),)
    assert sorted(found.problems) == sorted(
        [
            f"bundle {two}: not one bundle layer of at most {1 << 20} bytes",
            f"bundle {missing}: its bundle layer is missing",
        ]
    )
    assert _read(model, digest_of(b"no such image")) == Bundles()


def test_read_bundles_stops_at_its_bound_and_says_so() -> None:
    from regwire.sansio.keyless import MAX_BUNDLES

    model = ModelRegistry("reg.test")
    image = model.push_image("team/app", "1", None, [b"the layer"])
    for number in range(MAX_BUNDLES + 2):
        _attach(model, image, [f'{{"bundle": {number}}}'.encode()])
    found = _read(model, image)
    assert len(found.found) == MAX_BUNDLES
    assert found.problems == (f"more than {MAX_BUNDLES} bundles: the rest were not read",)


def test_read_bundles_says_when_the_referrers_cannot_be_read() -> None:
    model = ModelRegistry("reg.test")
    image = model.push_image("team/app", "1", None, [b"the layer"])

    def route(request: Request) -> Response:
        if "/referrers/" in request.url or "sha256-" in request.url:
            return Response(403, (("Content-Type", "application/json"),), b'{"errors": []}')
        return model.handle(request)

    found = _read(model, image, route)
    assert found.found == ()
    (problem,) = found.problems
    assert problem.startswith(f"the referrers of {image} could not be read: ")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"[]", "the bundle is not a JSON object"),
        (b"{}", "one of dsseEnvelope and messageSignature"),
        (b'{"dsseEnvelope": {}, "messageSignature": {}}', "one of dsseEnvelope"),
        (b"not json", "the bundle is not JSON"),
    ],
)
def test_bundle_content_refusals(raw: bytes, problem: str) -> None:
    with pytest.raises(InvalidLogEntry, match=re.escape(problem)):
        bundle_content(raw)


def test_statement_digests() -> None:
    statement = {"subject": [{"digest": {"sha256": "ab", "sha512": 3}}, "junk", {"digest": []}]}
    raw = json.dumps(statement).encode()
    assert statement_digests("application/vnd.in-toto+json", raw) == ["sha256:ab"]
    with pytest.raises(InvalidLogEntry, match=r"not application/vnd\.in-toto"):
        statement_digests("text/plain", raw)
    with pytest.raises(InvalidLogEntry, match="no subject list"):
        statement_digests("application/vnd.in-toto+json", b"{}")


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        (b'{"verificationMaterial": {"tlogEntries": [{"integratedTime": "1700000000"}]}}', 1),
        (b'{"verificationMaterial": {"tlogEntries": [{"integratedTime": "0"}]}}', 0),
        (b'{"verificationMaterial": {}}', 0),
        (b'{"verificationMaterial": {"tlogEntries": [{"integratedTime": "x"}]}}', 0),
        (b"[]", 0),
        (b'{"verificationMaterial": {"tlogEntries": [{"integratedTime": 99999999999999}]}}', 0),
    ],
)
def test_logged_times_are_read_or_none(raw: bytes, count: int) -> None:
    assert len(logged_times(raw)) == count


def test_read_bundles_refuses_a_listed_referrer_that_is_missing_or_names_another_subject() -> None:
    """A hostile referrers answer: one listed manifest the registry does not hold, one whose
    subject is another image's, one that names no subject (a bundle signed for anything)."""
    model = ModelRegistry("reg.test")
    image = model.push_image("team/app", "1", None, [b"the layer"])
    other = model.push_image("team/app", "2", None, [b"another layer"])
    elsewhere = _attach(model, other, [b'{"bundle": 2}'])
    unbound = _attach(model, image, [b'{"bundle": 3}'], names_subject=False)
    listed = [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "artifactType": BUNDLE_V03}
        for digest in (digest_of(b"never stored"), elsewhere, unbound)
    ]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}

    def route(request: Request) -> Response:
        if "/referrers/" in request.url:
            return Response(200, (("Content-Type", OCI_INDEX),), json.dumps(index).encode())
        return model.handle(request)

    found = _read(model, image, route)
    assert found.found == ()
    assert found.problems == (
        f"bundle {digest_of(b'never stored')}: its manifest is missing",
        f"bundle {elsewhere}: its subject is {other}, not {image}",
        f"bundle {unbound}: its subject is no subject, not {image}",
    )
