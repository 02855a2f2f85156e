"""containers-policy.json: strict parsing and scope selection (`regwire.sansio.policy`).

The tables follow containers/image's own tests (``signature/policy_config_test.go``,
``policy_config_sigstore_test.go``, ``policy_eval_test.go``
``TestPolicyContextRequirementsForImageRef``); the fixture is containers/image's
``signature/fixtures/policy.json`` (``tests/fixtures/sigstore/policy.json``); the properties
compare scope selection with a reference implementation written here from the man page.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio.errors import InvalidPolicy, InvalidReference
from regwire.sansio.policy import (
    PKI,
    AcceptAnything,
    ExactReference,
    ExactRepository,
    Fulcio,
    KeySource,
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    Policy,
    PolicyRequirement,
    Reject,
    RemapIdentity,
    Scope,
    SignedBaseLayer,
    SignedBy,
    SigstoreSigned,
    docker_scopes,
    path_scopes,
)
from regwire.sansio.reference import Reference

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sigstore" / "policy.json"
REJECT = {"type": "reject"}
ACCEPT = {"type": "insecureAcceptAnything"}


def parse(document: Any) -> Policy:
    return Policy.parse(json.dumps(document).encode(), "test.json")


def one(requirement: dict[str, Any]) -> PolicyRequirement:
    """The requirement ``requirement`` parses into, as the only default."""
    return parse({"default": [requirement]}).default[0]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the fixture ---------------------------------------------------------------------------


def fixture() -> Policy:
    return Policy.parse(FIXTURE.read_bytes(), str(FIXTURE))


def test_the_fixture_parses_whole() -> None:
    policy = fixture()
    assert policy.default == (Reject(),)
    assert [(s.transport, s.scope) for s in policy.scopes][:2] == [
        ("dir", ""),
        ("docker", "example.com/playground"),
    ]
    assert len(policy.scopes) == 15
    scopes = {s.scope: s.requirements for s in policy.scopes if s.transport == "docker"}
    assert scopes["example.com/production"] == (
        SignedBy("GPGKeys", (KeySource(path="/keys/employee-gpg-keyring"),)),
    )
    assert scopes["registry.redhat.io/beta"][0] == SignedBy(
        "GPGKeys",
        (
            KeySource(path="/keys/RH-production-signing-key-gpg-keyring"),
            KeySource(path="/keys/RH-beta-signing-key-gpg-keyring"),
        ),
    )
    hardened = scopes["example.com/hardened"]
    assert hardened[0] == SignedBy(
        "GPGKeys", (KeySource(path="/keys/employee-gpg-keyring"),), MatchRepository()
    )
    assert hardened[2] == SignedBaseLayer(ExactRepository("registry.access.redhat.com/rhel7/rhel"))
    mirror = scopes["private-mirror:5000/vendor-mirror"][0]
    assert isinstance(mirror, SignedBy)
    assert mirror.identity == RemapIdentity(
        "private-mirror:5000/vendor-mirror", "vendor.example.com"
    )
    assert scopes["bogus/key-data-example"] == (
        SignedBy("signedByGPGKeys", (KeySource(data=b"nonsense"),)),
    )
    assert scopes["bogus/signed-identity-example"] == (
        SignedBaseLayer(ExactReference("registry.access.redhat.com/rhel7/rhel:latest")),
    )
    assert scopes["example.com/sigstore/key-path-example"] == (
        SigstoreSigned((KeySource(path="/keys/public-key"),), MatchRepository()),
    )


@pytest.mark.parametrize(
    ("image", "scope", "verdict"),
    [
        ("example.com/playground/app:1", "example.com/playground", (AcceptAnything(),)),
        ("example.com/playground", "example.com/playground", (AcceptAnything(),)),
        (
            "example.com/sigstore/key-data-example:v1",
            "example.com/sigstore/key-data-example",
            (SigstoreSigned((KeySource(data=b"nonsense"),)),),
        ),
        (
            "example.com/sigstore/key-path-example@sha256:" + "a" * 64,
            "example.com/sigstore/key-path-example",
            (SigstoreSigned((KeySource(path="/keys/public-key"),), MatchRepository()),),
        ),
        ("quay.io/someone/else:1", None, (Reject(),)),
        ("example.org/x", None, (Reject(),)),  # *.com does not match .org
        ("bogus/key-data-example", None, (Reject(),)),  # docker.io/bogus/..., not "bogus/..."
    ],
)
def test_the_fixture_judges_what_regwire_implements(
    image: str, scope: str | None, verdict: tuple[PolicyRequirement, ...]
) -> None:
    policy = fixture()
    found = policy.scope_for(Reference.parse(image))
    assert (found.scope if found else None) == scope
    assert policy.requirements_for(Reference.parse(image)) == verdict


@pytest.mark.parametrize(
    ("image", "label", "named"),
    [
        ("example.com/production/app:1", 'transports.docker["example.com/production"]', "signedBy"),
        ("example.com/hardened/x", 'transports.docker["example.com/hardened"]', "signedBy"),
        ("registry.access.redhat.com/rhel7/rhel:7", "registry.access.redhat.com", "signedBy"),
        ("cdn.access.redhat.com/x", '"*.access.redhat.com"', "signedBy"),
        ("foo.redhat.com/x", '"*.redhat.com"', "signedBy"),
        ("docker.com/x", '"*.com"', "signedBy"),  # the wildcard of a host's parent domain
        ("private-mirror:5000/vendor-mirror/a:1", "private-mirror:5000/vendor-mirror", "signedBy"),
    ],
)
def test_the_fixture_refuses_signed_by_by_name(image: str, label: str, named: str) -> None:
    """The fixture's GPG requirements are refused, naming the requirement and the scope:
    never accepted, never silently skipped."""
    with pytest.raises(InvalidPolicy) as caught:
        fixture().requirements_for(Reference.parse(image))
    assert named in str(caught.value)
    assert label in str(caught.value)
    assert "not implement" in str(caught.value)
    assert str(FIXTURE) in str(caught.value)


def test_the_fixture_dir_transport_accepts_any_directory() -> None:
    assert fixture().requirements_for(None, "dir", "/some/where") == (AcceptAnything(),)
    assert fixture().requirements_for(None, "oci", "/some/where") == (Reject(),)


# --- parsing: what is accepted -------------------------------------------------------------


def test_the_smallest_policies() -> None:
    assert parse({"default": [ACCEPT]}) == Policy((AcceptAnything(),), (), "test.json")
    assert parse({"default": [REJECT, ACCEPT], "transports": {}}).default == (
        Reject(),
        AcceptAnything(),
    )
    assert parse({"default": [REJECT], "transports": {"docker": {}}}).scopes == ()


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        (
            {"type": "sigstoreSigned", "keyPath": "/k.pub"},
            SigstoreSigned((KeySource(path="/k.pub"),), MatchRepoDigestOrExact()),
        ),
        (
            {"type": "sigstoreSigned", "keyPaths": ["/a.pub", "/b.pub"]},
            SigstoreSigned((KeySource(path="/a.pub"), KeySource(path="/b.pub"))),
        ),
        (
            {"type": "sigstoreSigned", "keyData": b64(b"PEM")},
            SigstoreSigned((KeySource(data=b"PEM"),)),
        ),
        (
            {"type": "sigstoreSigned", "keyDatas": [b64(b"one"), b64(b"two")]},
            SigstoreSigned((KeySource(data=b"one"), KeySource(data=b"two"))),
        ),
        (  # containers/image counts an empty keyPath as absent
            {"type": "sigstoreSigned", "keyPath": "", "keyData": b64(b"x")},
            SigstoreSigned((KeySource(data=b"x"),)),
        ),
        (  # Go's base64 decoding skips line breaks
            {
                "type": "sigstoreSigned",
                "keyData": b64(b"line broken key")[:8] + "\n" + b64(b"line broken key")[8:],
            },
            SigstoreSigned((KeySource(data=b"line broken key"),)),
        ),
        (
            {
                "type": "sigstoreSigned",
                "keyPath": "/k.pub",
                "signedIdentity": {"type": "matchExact"},
            },
            SigstoreSigned((KeySource(path="/k.pub"),), MatchExact()),
        ),
        (
            {
                "type": "sigstoreSigned",
                "keyPath": "/k.pub",
                "rekorPublicKeyPath": "/rekor.pub",
                "signedIdentity": {"type": "exactRepository", "dockerRepository": "quay.io/a/b"},
            },
            SigstoreSigned(
                (KeySource(path="/k.pub"),),
                ExactRepository("quay.io/a/b"),
                rekor_keys=(KeySource(path="/rekor.pub"),),
            ),
        ),
        (
            {
                "type": "sigstoreSigned",
                "fulcio": {
                    "caData": b64(b"CA"),
                    "oidcIssuer": "https://issuer.example",
                    "subjectEmail": "me@example.com",
                },
                "rekorPublicKeyDatas": [b64(b"R1"), b64(b"R2")],
            },
            SigstoreSigned(
                (),
                fulcio=Fulcio(KeySource(data=b"CA"), "https://issuer.example", "me@example.com"),
                rekor_keys=(KeySource(data=b"R1"), KeySource(data=b"R2")),
            ),
        ),
        (
            {
                "type": "sigstoreSigned",
                "pki": {
                    "caRootsPath": "/roots.pem",
                    "caIntermediatesData": b64(b"I"),
                    "subjectHostname": "builder.example.com",
                },
            },
            SigstoreSigned(
                (),
                pki=PKI(
                    KeySource(path="/roots.pem"), KeySource(data=b"I"), "", "builder.example.com"
                ),
            ),
        ),
        (
            {
                "type": "sigstoreSigned",
                "keyPath": "/k.pub",
                "signedIdentity": {
                    "type": "remapIdentity",
                    "prefix": "mirror.example:5000/vendor",
                    "signedPrefix": "vendor.example.com",
                },
            },
            SigstoreSigned(
                (KeySource(path="/k.pub"),),
                RemapIdentity("mirror.example:5000/vendor", "vendor.example.com"),
            ),
        ),
        (
            {
                "type": "signedBy",
                "keyType": "X509Certificates",
                "keyData": b64(b"ring"),
                "signedIdentity": {
                    "type": "exactReference",
                    "dockerReference": "busybox:1",
                },
            },
            SignedBy("X509Certificates", (KeySource(data=b"ring"),), ExactReference("busybox:1")),
        ),
    ],
)
def test_requirements_parse_into_their_values(
    requirement: dict[str, Any], expected: PolicyRequirement
) -> None:
    assert one(requirement) == expected


# --- parsing: what is refused --------------------------------------------------------------


def _sig(**fields: Any) -> dict[str, Any]:
    return {"default": [{"type": "sigstoreSigned", **fields}]}


FULCIO = {"caPath": "/ca.pem", "oidcIssuer": "https://i.example", "subjectEmail": "a@b.c"}
PKI_OK = {"caRootsPath": "/roots.pem", "subjectEmail": "a@b.c"}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({}, '"default" requirement list is missing'),
        ({"default": []}, "must not be empty"),
        ({"default": REJECT}, "expected a list of requirements"),
        ({"default": [REJECT], "other": 1}, 'unknown field "other"'),
        ({"default": [REJECT], "transports": []}, "transports: expected a JSON object"),
        ({"default": [REJECT], "transports": None}, "transports: expected a JSON object"),
        ({"default": [REJECT], "transports": {"docker": []}}, "expected a JSON object"),
        ({"default": [REJECT], "transports": {"docker": {"a.com": []}}}, "must not be empty"),
        ({"default": [REJECT], "transports": {"docker": {"a.com": {}}}}, "expected a list"),
        ({"default": [{"type": "reject", "x": 1}]}, 'unknown field "x"'),
        ({"default": [{"type": "insecureAcceptAnything", "x": 1}]}, 'unknown field "x"'),
        ({"default": [{"type": "nonsense"}]}, 'unknown requirement type "nonsense"'),
        ({"default": [{}]}, "unknown requirement type (none)"),
        ({"default": [{"type": 1}]}, "unknown requirement type"),
        ({"default": ["reject"]}, "expected a requirement object"),
        # per-transport scope checks (containers/image's ValidatePolicyConfigurationScope)
        ({"default": [REJECT], "transports": {"oci": {"relative/p": [REJECT]}}}, "absolute"),
        ({"default": [REJECT], "transports": {"oci": {"/": [REJECT]}}}, 'scope "/"'),
        ({"default": [REJECT], "transports": {"dir": {"/a/../b": [REJECT]}}}, "clean"),
        ({"default": [REJECT], "transports": {"oci-archive": {"/a/": [REJECT]}}}, "clean"),
        ({"default": [REJECT], "transports": {"sif": {"//a": [REJECT]}}}, "clean"),
        ({"default": [REJECT], "transports": {"docker-archive": {"/a": [REJECT]}}}, "but the"),
        ({"default": [REJECT], "transports": {"tarball": {"x": [REJECT]}}}, "no scope"),
        (
            {
                "default": [REJECT],
                "transports": {"docker-daemon": {"sha256:" + "a" * 64: [ACCEPT]}},
            },
            "algo:digest",
        ),
        # sigstoreSigned's key forms
        (_sig(), "exactly one of keyPath"),
        (_sig(keyPath=""), "exactly one of keyPath"),
        (_sig(keyPath="/a", keyData=b64(b"x")), "give only one of keyPath"),
        (_sig(keyPaths=["/a"], keyDatas=[b64(b"x")]), "give only one of keyPath"),
        (_sig(keyPath="/a", fulcio=FULCIO, rekorPublicKeyPath="/r"), "exactly one of"),
        (_sig(keyPaths=[]), "no entries"),
        (_sig(keyPaths=[""]), "must not be empty"),
        (_sig(keyPaths="/a"), "expected a list of strings"),
        (_sig(keyDatas=[]), "no entries"),
        (_sig(keyDatas=b64(b"x")), "expected a list of base64 strings"),
        (_sig(keyData="not base64!"), "not valid base64"),
        (_sig(keyData="YQ"), "not valid base64"),  # padding is required, as in Go
        (_sig(keyData=5), "expected a string"),
        (_sig(keyPath=["/a"]), "expected a string"),
        (_sig(keyPath="/a", keyType="GPGKeys"), 'unknown field "keyType"'),
        (_sig(fulcio=FULCIO), "fulcio needs one of rekorPublicKeyPath"),
        (_sig(pki=PKI_OK, rekorPublicKeyPath="/r"), "cannot be used with pki"),
        (
            _sig(keyPath="/a", rekorPublicKeyPath="/r", rekorPublicKeyData=b64(b"r")),
            "give only one of rekorPublicKeyPath",
        ),
        (_sig(keyPath="/a", rekorPublicKeyPaths=[]), "no entries"),
        (_sig(fulcio={**FULCIO, "caData": b64(b"c")}, rekorPublicKeyPath="/r"), "simultaneously"),
        (_sig(fulcio={"oidcIssuer": "i", "subjectEmail": "e"}, rekorPublicKeyPath="/r"), "caPath"),
        (_sig(fulcio={**FULCIO, "oidcIssuer": ""}, rekorPublicKeyPath="/r"), "oidcIssuer"),
        (
            _sig(
                fulcio={k: v for k, v in FULCIO.items() if k != "subjectEmail"},
                rekorPublicKeyPath="/r",
            ),
            "subjectEmail not specified",
        ),
        (_sig(fulcio={**FULCIO, "extra": 1}, rekorPublicKeyPath="/r"), 'unknown field "extra"'),
        (_sig(fulcio=[], rekorPublicKeyPath="/r"), "expected a JSON object"),
        (_sig(pki={"subjectEmail": "a@b.c"}), "caRootsPath"),
        (_sig(pki={"caRootsPath": "/r"}), "subjectEmail and subjectHostname"),
        (
            _sig(pki={**PKI_OK, "caIntermediatesPath": "/i", "caIntermediatesData": b64(b"i")}),
            "simultaneously",
        ),
        # signedIdentity
        (_sig(keyPath="/a", signedIdentity={"type": "matchSomething"}), "unknown signedIdentity"),
        (_sig(keyPath="/a", signedIdentity={}), "unknown signedIdentity type (none)"),
        (_sig(keyPath="/a", signedIdentity="matchExact"), "expected a signedIdentity object"),
        (_sig(keyPath="/a", signedIdentity={"type": "matchExact", "x": 1}), 'unknown field "x"'),
        (
            _sig(keyPath="/a", signedIdentity={"type": "matchRepository", "dockerReference": "a"}),
            'unknown field "dockerReference"',
        ),
        (_sig(keyPath="/a", signedIdentity={"type": "exactReference"}), "missing field"),
        (
            _sig(keyPath="/a", signedIdentity={"type": "exactReference", "dockerReference": "a"}),
            "neither a tag nor a digest",
        ),
        (
            _sig(keyPath="/a", signedIdentity={"type": "exactReference", "dockerReference": "A:"}),
            "is not valid",
        ),
        (
            _sig(keyPath="/a", signedIdentity={"type": "exactRepository", "dockerRepository": ""}),
            "is not valid",
        ),
        (
            _sig(keyPath="/a", signedIdentity={"type": "exactRepository", "dockerRepository": 1}),
            "expected a string",
        ),
        (
            _sig(
                keyPath="/a",
                signedIdentity={
                    "type": "remapIdentity",
                    "prefix": "example.com/repo:tag",
                    "signedPrefix": "example.com",
                },
            ),
            "prefix",
        ),
        (
            _sig(
                keyPath="/a",
                signedIdentity={
                    "type": "remapIdentity",
                    "prefix": "example.com",
                    "signedPrefix": "repo_with_underscores",
                },
            ),
            "signedPrefix",
        ),
        (
            _sig(keyPath="/a", signedIdentity={"type": "remapIdentity", "prefix": "a.com"}),
            'missing field "signedPrefix"',
        ),
        # signedBy and signedBaseLayer are read as strictly, though not evaluated
        ({"default": [{"type": "signedBy", "keyPath": "/k"}]}, "unrecognized keyType"),
        ({"default": [{"type": "signedBy", "keyType": "PGP", "keyPath": "/k"}]}, "keyType"),
        ({"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}, "exactly one of"),
        (
            {
                "default": [
                    {
                        "type": "signedBy",
                        "keyType": "GPGKeys",
                        "keyPath": "/k",
                        "keyData": b64(b"k"),
                    }
                ]
            },
            "exactly one of",
        ),
        (
            {"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", ""]}]},
            "a key path must not be empty",
        ),
        ({"default": [{"type": "signedBaseLayer"}]}, 'missing field "baseLayerIdentity"'),
        (
            {"default": [{"type": "signedBaseLayer", "baseLayerIdentity": {"type": "x"}}]},
            "unknown signedIdentity",
        ),
    ],
)
def test_invalid_policies_are_refused_naming_where(document: Any, says: str) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse(document)
    assert says in str(caught.value)
    assert caught.value.source == "test.json"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"&",
        b"1",
        b"null",
        b"[]",
        b'"default"',
        b'{"default": [{"type": "reject"}], "default": [{"type": "reject"}]}',
        b'{"default": [{"type": "reject", "type": "reject"}]}',
        b'{"default": [{"type": "reject"}], "transports": {"docker": {"a": [{"type": "reject"}],'
        b' "a": [{"type": "reject"}]}}}',
        b'{"default": [{"type": "reject"}]}\xff',
        b"\xff\xfe\x00",
        b"[" * 100_000,
        b'{"default": [{"type": "reject"}]} {}',
    ],
)
def test_bytes_that_are_not_a_policy_are_invalid_policy(data: bytes) -> None:
    with pytest.raises(InvalidPolicy):
        Policy.parse(data)


def test_a_duplicate_is_named_where_it_is() -> None:
    data = (
        b'{"default": [{"type": "reject"}], "transports": '
        b'{"docker": {"a.com": [{"type": "reject", "type": "reject"}]}}}'
    )
    with pytest.raises(InvalidPolicy, match=r'transports\.docker\["a\.com"\]\[0\]: duplicate'):
        Policy.parse(data)


def test_unknown_transports_take_any_scope() -> None:
    """containers/image validates scopes only for transports it knows; so do we."""
    policy = parse({"default": [REJECT], "transports": {"atomic": {"any thing": [ACCEPT]}}})
    assert policy.scopes == (Scope("atomic", "any thing", (AcceptAnything(),)),)


# --- scope selection -----------------------------------------------------------------------

DEEP_SCOPES = [
    "",
    "unmatched",
    "deep.com",
    "*.very.deep.com",
    "*.deep.com",
    "deep.com/n1",
    "deep.com/n1/n2",
    "deep.com/n1/n2/n3",
    "deep.com/n1/n2/n3/repo",
    "deep.com/n1/n2/n3/repo:tag2",
]


def _marked(label: str) -> dict[str, Any]:
    """A requirement that names its scope, so that a lookup's result says where it came from."""
    return {"type": "sigstoreSigned", "keyData": b64(label.encode())}


def _which(requirements: tuple[PolicyRequirement, ...]) -> str:
    (requirement,) = requirements
    if isinstance(requirement, Reject):
        return "default"
    assert isinstance(requirement, SigstoreSigned)
    assert requirement.keys[0].data is not None
    return requirement.keys[0].data.decode()


DEEP = parse(
    {
        "default": [REJECT],
        "transports": {
            "docker": {scope: [_marked(scope)] for scope in DEEP_SCOPES},
            "atomic": {"unmatched": [_marked("atomic")]},
        },
    }
)


@pytest.mark.parametrize(
    ("image", "matched"),
    [
        ("deep.com/n1/n2/n3/repo:tag2", "deep.com/n1/n2/n3/repo:tag2"),  # full match
        ("deep.com/n1/n2/n3/repo:nottag2", "deep.com/n1/n2/n3/repo"),
        ("deep.com/n1/n2/n3/notrepo:tag2", "deep.com/n1/n2/n3"),
        ("deep.com/n1/n2/notn3/repo:tag2", "deep.com/n1/n2"),
        ("deep.com/n1/notn2/n3/repo:tag2", "deep.com/n1"),
        ("deep.com/notn1/n2/n3/repo:tag2", "deep.com"),  # host
        ("very.deep.com/n1/n2/n3/repo:tag2", "*.deep.com"),  # subdomain wildcards
        ("not.very.deep.com/n1/n2/n3/repo:tag2", "*.very.deep.com"),
        ("x.deep.com:5000/n1/repo:tag2", "*.deep.com"),  # the port is not part of a wildcard
        ("this.does-not/match:anything", ""),  # the transport's default
        ("deep.com/n1/n2/n3/repo@sha256:" + "0" * 64, "deep.com/n1/n2/n3/repo"),
    ],
)
def test_the_most_specific_scope_wins(image: str, matched: str) -> None:
    assert _which(DEEP.requirements_for(Reference.parse(image))) == matched


def test_no_transport_table_means_the_global_default() -> None:
    policy = parse({"default": [REJECT], "transports": {"atomic": {"unmatched": [ACCEPT]}}})
    assert policy.requirements_for(Reference.parse("this.does-not/match:anything")) == (Reject(),)
    assert policy.scope_for(Reference.parse("a.com/b")) is None


def test_a_reference_without_tag_is_looked_up_as_latest_and_both_by_digest_first() -> None:
    assert docker_scopes(Reference.parse("busybox"))[0] == "docker.io/library/busybox:latest"
    digest = "sha256:" + "1" * 64
    both = docker_scopes(Reference.parse(f"quay.io/a/b:v1@{digest}"))
    assert both[:3] == (f"quay.io/a/b@{digest}", "quay.io/a/b:v1", "quay.io/a/b")


def test_docker_scopes_list_every_namespace_then_wildcards() -> None:
    assert docker_scopes(Reference.parse("a.b.example.com:5000/ns/repo:tag")) == (
        "a.b.example.com:5000/ns/repo:tag",
        "a.b.example.com:5000/ns/repo",
        "a.b.example.com:5000/ns",
        "a.b.example.com:5000",
        "*.b.example.com",
        "*.example.com",
        "*.com",
    )
    assert docker_scopes(Reference.parse("localhost:5000/r")) == (
        "localhost:5000/r:latest",
        "localhost:5000/r",
        "localhost:5000",
    )


def test_docker_needs_a_reference_and_unknown_transports_are_refused() -> None:
    with pytest.raises(InvalidReference):
        DEEP.requirements_for(None)
    with pytest.raises(ValueError, match="atomic"):
        DEEP.requirements_for(Reference.parse("a.com/b"), "atomic")


PATHS = parse(
    {
        "default": [REJECT],
        "transports": {
            transport: {scope: [_marked(f"{transport} {scope}")] for scope in scopes}
            for transport, scopes in {
                "oci": ["", "/srv/images", "/srv/images/app"],
                "oci-archive": ["/tmp"],
                "dir": ["/d"],
                "docker-archive": [""],
            }.items()
        },
    }
)


@pytest.mark.parametrize(
    ("transport", "path", "matched"),
    [
        ("oci", "/srv/images/app", "oci /srv/images/app"),
        ("oci", "/srv/images/app/v2", "oci /srv/images/app"),
        ("oci", "/srv/images/application", "oci /srv/images"),  # whole components only
        ("oci", "/srv", "oci "),
        ("oci-archive", "/tmp/a.tar", "oci-archive /tmp"),
        ("oci-archive", "/var/a.tar", "default"),
        ("dir", "/d", "dir /d"),
        ("docker-archive", "/anything.tar", "docker-archive "),
        ("tarball", "/x", "default"),
    ],
)
def test_path_transports_look_up_the_path_and_its_parents(
    transport: str, path: str, matched: str
) -> None:
    assert _which(PATHS.requirements_for(None, transport, path)) == matched


@pytest.mark.parametrize("path", ["", "relative", "/", "/a/", "/a//b", "/a/./b", "/a/../b"])
def test_a_path_must_be_absolute_and_resolved(path: str) -> None:
    with pytest.raises(InvalidReference, match="absolute"):
        PATHS.requirements_for(None, "oci", path)


def test_path_scopes_never_include_the_root() -> None:
    assert path_scopes("/a/b/c") == ("/a/b/c", "/a/b", "/a")
    assert path_scopes("/a") == ("/a",)


# --- what regwire cannot evaluate is refused, only where it applies ------------------------

UNIMPLEMENTED = [
    ({"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}, "signedBy"),
    (
        {"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}},
        "signedBaseLayer",
    ),
]


@pytest.mark.parametrize(
    "requirement",
    [
        {"type": "sigstoreSigned", "fulcio": FULCIO, "rekorPublicKeyPath": "/rekor.pub"},
        {"type": "sigstoreSigned", "keyPath": "/k.pub", "rekorPublicKeyData": b64(b"r")},
        {"type": "sigstoreSigned", "pki": PKI_OK},
    ],
)
def test_fulcio_rekor_keys_and_pki_are_evaluated_not_refused(requirement: dict[str, Any]) -> None:
    """Keyless signatures (fulcio), logged key signatures (rekorPublicKey*) and certificates
    from the user's CA (pki) are checked by regwire.keyless: the requirement is handed out as
    it was parsed."""
    policy = parse({"default": [REJECT], "transports": {"docker": {"quay.io": [requirement]}}})
    (found,) = policy.requirements_for(Reference.parse("quay.io/app:1"))
    assert isinstance(found, SigstoreSigned)
    assert found.rekor_keys or found.pki is not None


@pytest.mark.parametrize(("requirement", "named"), UNIMPLEMENTED)
def test_unimplemented_requirements_are_refused_naming_them(
    requirement: dict[str, Any], named: str
) -> None:
    policy = parse(
        {
            "default": [REJECT],
            "transports": {
                "docker": {"quay.io/strict": [ACCEPT, requirement], "quay.io/open": [ACCEPT]}
            },
        }
    )
    with pytest.raises(InvalidPolicy) as caught:
        policy.requirements_for(Reference.parse("quay.io/strict/app:1"))
    assert named in caught.value.problem
    assert 'transports.docker["quay.io/strict"]' in caught.value.problem
    # the other scopes of the same policy still work
    assert policy.requirements_for(Reference.parse("quay.io/open/app")) == (AcceptAnything(),)
    assert policy.requirements_for(Reference.parse("ghcr.io/x")) == (Reject(),)


def test_an_unimplemented_default_is_refused_as_default() -> None:
    policy = parse({"default": [UNIMPLEMENTED[0][0]]})
    with pytest.raises(InvalidPolicy, match=r'^policy "test\.json": default requires signedBy'):
        policy.requirements_for(Reference.parse("a.com/b"))


# --- with_key_data ------------------------------------------------------------------------


def test_with_key_data_reads_every_sigstore_path_and_nothing_else() -> None:
    policy = parse(
        {
            "default": [{"type": "sigstoreSigned", "keyPaths": ["/a", "/b"]}],
            "transports": {
                "docker": {
                    "r.com": [
                        {
                            "type": "sigstoreSigned",
                            "keyData": b64(b"inline"),
                            "rekorPublicKeyPath": "/rekor",
                        },
                        {"type": "sigstoreSigned", "fulcio": FULCIO, "rekorPublicKeyPath": "/r2"},
                        {
                            "type": "sigstoreSigned",
                            "pki": {**PKI_OK, "caIntermediatesPath": "/inter"},
                        },
                        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/gpg"},
                    ]
                }
            },
        }
    )
    asked: list[str] = []

    def read(source: KeySource) -> bytes:
        assert source.path is not None
        asked.append(source.path)
        return b"read " + source.path.encode()

    loaded = policy.with_key_data(read)
    assert asked == ["/a", "/b", "/rekor", "/ca.pem", "/r2", "/roots.pem", "/inter"]
    assert loaded.default == (
        SigstoreSigned((KeySource(data=b"read /a"), KeySource(data=b"read /b"))),
    )
    first, fulcio, pki, gpg = loaded.scopes[0].requirements
    assert first == SigstoreSigned(
        (KeySource(data=b"inline"),), rekor_keys=(KeySource(data=b"read /rekor"),)
    )
    assert isinstance(fulcio, SigstoreSigned) and fulcio.fulcio is not None
    assert fulcio.fulcio.ca == KeySource(data=b"read /ca.pem")
    assert isinstance(pki, SigstoreSigned) and pki.pki is not None
    assert pki.pki.ca_intermediates == KeySource(data=b"read /inter")
    assert gpg == SignedBy("GPGKeys", (KeySource(path="/gpg"),))  # never evaluated, not read
    assert loaded.source == policy.source


def test_values_check_themselves() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        KeySource()
    with pytest.raises(ValueError, match="exactly one"):
        KeySource(path="/a", data=b"")
    with pytest.raises(ValueError, match="must not be empty"):
        KeySource(path="")
    with pytest.raises(InvalidPolicy, match="is not valid"):
        ExactReference(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidPolicy, match="exactly one of keyPath"):
        SigstoreSigned(())
    with pytest.raises(InvalidPolicy, match="is given twice"):
        Policy((Reject(),), (Scope("docker", "a", (Reject(),)), Scope("docker", "a", (Reject(),))))
    with pytest.raises(InvalidPolicy, match="empty requirement list"):
        Policy((Reject(),), (Scope("docker", "a", ()),))
    with pytest.raises(InvalidPolicy, match="must not be empty"):
        Policy(())


# --- properties ---------------------------------------------------------------------------

_labels = st.text(alphabet="abcxyz0", min_size=1, max_size=3)


@st.composite
def hosts(draw: st.DrawFn) -> str:
    host = ".".join(draw(st.lists(_labels, min_size=1, max_size=4)))
    if draw(st.booleans()):
        host += ":" + str(draw(st.integers(1, 65535)))
    elif "." not in host:
        host = "localhost"  # a one-label host without a port would read as a Docker Hub path
    return host


@st.composite
def images(draw: st.DrawFn) -> Reference:
    host = draw(hosts())
    repository = "/".join(draw(st.lists(_labels, min_size=1, max_size=4)))
    tag = draw(st.none() | st.sampled_from(["latest", "v1", "v2"]))
    digest = draw(st.none() | st.sampled_from(["sha256:" + "a" * 64, "sha256:" + "b" * 64]))
    return Reference.parse(
        f"{host}/{repository}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    )


def expected_scope(image: Reference, scopes: set[str]) -> str | None:
    """The man page's rule, written independently of the module: the full reference (by digest,
    by tag, or as :latest), each name prefix at a "/", then "*." + each parent domain of the
    port-less host, then ""; None for the global default."""
    name = f"{image.registry}/{image.repository}"
    full = []
    if image.digest:
        full.append(name + "@" + image.digest)
    if image.tag:
        full.append(name + ":" + image.tag)
    full = full or [name + ":latest"]
    parts = name.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    labels = image.registry.split(":")[0].split(".")
    wildcards = ["*." + ".".join(labels[n:]) for n in range(1, len(labels))]
    for candidate in [*full, *prefixes, *wildcards, ""]:
        if candidate in scopes:
            return candidate
    return None


@st.composite
def image_and_scopes(draw: st.DrawFn) -> tuple[Reference, list[str]]:
    image = draw(images())
    name = f"{image.registry}/{image.repository}"
    parts = name.split("/")
    related = [
        name + ":latest",
        name + ":v1",
        name + "@sha256:" + "a" * 64,
        "",
        *("/".join(parts[:n]) for n in range(1, len(parts) + 1)),
        *("*." + image.registry.split(":")[0].split(".", n)[-1] for n in range(1, 4)),
        "*." + image.registry,  # with its port: never matches
        image.registry.split(":")[0],  # the host without its port: never matches with one
        name + "x",
        parts[0] + "/x",
    ]
    others = draw(st.lists(st.builds(str, _labels), max_size=3))
    scopes = draw(
        st.lists(
            st.sampled_from(related) | st.sampled_from(others or ["z"]), unique=True, max_size=8
        )
    )
    return image, scopes


@settings(max_examples=300)
@given(case=image_and_scopes())
def test_requirements_for_equals_the_reference_implementation(
    case: tuple[Reference, list[str]],
) -> None:
    image, scopes = case
    policy = parse(
        {
            "default": [REJECT],
            "transports": {"docker": {scope: [_marked(scope)] for scope in scopes}},
        }
    )
    expected = expected_scope(image, set(scopes))
    assert _which(policy.requirements_for(image)) == ("default" if expected is None else expected)
    found = policy.scope_for(image)
    assert (None if found is None else found.scope) == expected


@st.composite
def json_values(draw: st.DrawFn) -> Any:
    leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    keys = st.sampled_from(
        [
            "default",
            "transports",
            "docker",
            "type",
            "reject",
            "keyPath",
            "keyData",
            "signedIdentity",
            "sigstoreSigned",
            "insecureAcceptAnything",
            "matchExact",
            "",
        ]
    )
    return draw(
        st.recursive(
            leaves | keys,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
            max_leaves=20,
        )
    )


@settings(max_examples=300)
@given(document=json_values())
def test_any_json_is_a_policy_or_invalid_policy(document: Any) -> None:
    try:
        policy = parse(document)
    except InvalidPolicy as exc:
        refused: InvalidPolicy | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.source == "test.json"
        return
    assert policy.default  # what parses has a default, and evaluating it does not crash
    try:
        policy.requirements_for(Reference.parse("example.com/a:1"))
    except InvalidPolicy as exc:
        refused = exc
    assert refused is None or "not implement" in refused.problem


@settings(max_examples=200)
@given(data=st.binary(max_size=64))
def test_any_bytes_are_a_policy_or_invalid_policy(data: bytes) -> None:
    try:
        Policy.parse(data)
    except InvalidPolicy:
        pass


# --- parse(render(policy)) == policy -------------------------------------------------------


def render_identity(rule: Any) -> dict[str, Any]:
    if isinstance(rule, ExactReference):
        return {"type": "exactReference", "dockerReference": rule.docker_reference}
    if isinstance(rule, ExactRepository):
        return {"type": "exactRepository", "dockerRepository": rule.docker_repository}
    if isinstance(rule, RemapIdentity):
        return {"type": "remapIdentity", "prefix": rule.prefix, "signedPrefix": rule.signed_prefix}
    names = {MatchExact: "matchExact", MatchRepoDigestOrExact: "matchRepoDigestOrExact"}
    return {"type": names.get(type(rule), "matchRepository")}


def render_keys(stem: str, keys: tuple[KeySource, ...], plural: bool) -> dict[str, Any]:
    if not keys:
        return {}
    if keys[0].path is not None:
        paths = [k.path for k in keys]
        return {f"{stem}Paths": paths} if plural else {f"{stem}Path": paths[0]}
    datas = [b64(k.data or b"") for k in keys]
    return {f"{stem}Datas": datas} if plural else {f"{stem}Data": datas[0]}


def render(requirement: PolicyRequirement, plural: bool) -> dict[str, Any]:
    if isinstance(requirement, AcceptAnything):
        return ACCEPT
    if isinstance(requirement, Reject):
        return REJECT
    assert isinstance(requirement, SigstoreSigned)
    return {
        "type": "sigstoreSigned",
        **render_keys("key", requirement.keys, plural),
        **render_keys("rekorPublicKey", requirement.rekor_keys, plural),
        "signedIdentity": render_identity(requirement.identity),
    }


_key_sources = st.one_of(
    st.lists(st.sampled_from(["/k1.pub", "/k2.pub", "rel/k.pub"]), min_size=1, max_size=3).map(
        lambda paths: tuple(KeySource(path=p) for p in paths)
    ),
    st.lists(st.binary(max_size=8), min_size=1, max_size=3).map(
        lambda datas: tuple(KeySource(data=d) for d in datas)
    ),
)
_identities = st.one_of(
    st.builds(MatchExact),
    st.builds(MatchRepoDigestOrExact),
    st.builds(MatchRepository),
    st.sampled_from(["busybox:1", "quay.io/a/b@sha256:" + "c" * 64]).map(ExactReference),
    st.sampled_from(["busybox", "quay.io/a/b:1"]).map(ExactRepository),
    st.sampled_from(
        [("mirror.example:5000/v", "vendor.example"), ("docker.io", "m.example/hub")]
    ).map(lambda pair: RemapIdentity(*pair)),
)


@st.composite
def requirements(draw: st.DrawFn) -> tuple[tuple[PolicyRequirement, ...], bool]:
    plural = draw(st.booleans())
    sigstore = st.builds(
        SigstoreSigned,
        keys=_key_sources.map(lambda keys: keys if plural else keys[:1]),
        identity=_identities,
        rekor_keys=st.just(()) | _key_sources.map(lambda keys: keys if plural else keys[:1]),
    )
    simple: list[PolicyRequirement] = [AcceptAnything(), Reject()]
    items: st.SearchStrategy[PolicyRequirement] = st.sampled_from(simple) | sigstore
    return tuple(draw(st.lists(items, min_size=1, max_size=3))), plural


@settings(max_examples=100)
@given(
    default=requirements(),
    scopes=st.dictionaries(
        st.sampled_from(["docker", "oci", "atomic"]).flatmap(
            lambda t: st.tuples(
                st.just(t),
                st.sampled_from(["", "/srv/a", "/srv/a/b"] if t == "oci" else ["", "q.io", "*.io"]),
            )
        ),
        requirements(),
        max_size=4,
    ),
)
def test_parse_of_a_rendered_policy_gives_it_back(
    default: tuple[tuple[PolicyRequirement, ...], bool],
    scopes: dict[tuple[str, str], tuple[tuple[PolicyRequirement, ...], bool]],
) -> None:
    transports: dict[str, dict[str, Any]] = {}
    for (transport, scope), (listed, plural) in scopes.items():
        transports.setdefault(transport, {})[scope] = [render(r, plural) for r in listed]
    document = {"default": [render(r, default[1]) for r in default[0]], "transports": transports}
    policy = parse(document)
    assert policy.default == default[0]
    assert {(s.transport, s.scope): s.requirements for s in policy.scopes} == {
        key: listed for key, (listed, _) in scopes.items()
    }
