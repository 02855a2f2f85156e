"""Real cosign signatures get the verdicts containers/image gives them (issue 27).

The images and signatures in ``tests/fixtures/sigstore`` are containers/image's test
fixtures: made by cosign (and by containers/image for ``-with-tag``), verified by
``signature/policy_eval_sigstore_test.go`` (``TestPRrSigstoreSignedIsSignatureAccepted``,
``TestPRSigstoreSignedIsRunningImageAllowed``) with ``cosign.pub``. Each test here serves a
fixture's manifest as a registry holds it, under the repository its payload names, beside the
``sha256-<hex>.sig`` manifest cosign would have pushed for it (built in this file from the
fixture's ``signature-N`` files, as go-containerregistry lays it out for cosign), and asks
regwire for the verdict, through a policy and through a key. The verdicts asserted are the ones
containers/image's tests assert, with the reason regwire gives for each rejection.

The fixtures' manifests come without their config and layer blobs, so the registry is the
model registry (over loopback), which does not check that a manifest's blobs exist. Their
payloads name ``192.168.64.2:5000/...``: the policies map that name to the loopback host with
``exactRepository`` or ``remapIdentity``, and ``verify(key=...)`` is told the identity.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from regwire.drivers import trust
from regwire.drivers.steps import Blocking
from regwire.sansio.digests import digest_of
from regwire.sansio.errors import NotFound, RegistryError, SignatureRejected
from regwire.sansio.manifests import DOCKER_SCHEMA1_SIGNED, OCI_MANIFEST, Descriptor
from regwire.sansio.policy import Policy
from regwire.sansio.reference import Reference
from regwire.sansio.signatures import (
    SIMPLE_SIGNING,
    Attachments,
    Payload,
    Signature,
    VerifiedSignature,
    attachment_tag,
)
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

SIGSTORE = Path(__file__).resolve().parent / "fixtures" / "sigstore"
COSIGN_PUB = SIGSTORE / "cosign.pub"
COSIGN2_PUB = SIGSTORE / "cosign2.pub"
REKOR_PUB = SIGSTORE / "rekor.pub"
SIGNED_HOST = "192.168.64.2:5000"  # the registry the fixtures were signed on
SINGLE = "cosign-signed-single-sample"
SIGSTORE_JSON = b"\x00sigstore-json\n"

# --- serving a fixture as a registry holds it ------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One ``signature-N`` file of a fixture: a layer of the signature manifest."""

    mime_type: str
    payload: bytes
    annotations: dict[str, str]


def fixture_layers(name: str) -> list[Layer]:
    """The fixture's sigstore signatures in order (containers/image's ``dir:`` form: a 0x00,
    ``sigstore-json``, a newline, then JSON with mimeType, payload and annotations)."""
    layers = []
    for number in range(1, 10):
        path = SIGSTORE / name / f"signature-{number}"
        if not path.exists():
            break
        raw = path.read_bytes()
        assert raw.startswith(SIGSTORE_JSON), path
        document = json.loads(raw[len(SIGSTORE_JSON) :])
        layers.append(
            Layer(
                document["mimeType"],
                base64.b64decode(document["payload"]),
                dict(document["annotations"]),
            )
        )
    assert layers, name
    return layers


def _go(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def cosign_signature_manifest(layers: list[Layer]) -> tuple[bytes, bytes]:
    """The ``.sig`` manifest and its config as cosign pushes them: go-containerregistry's
    ``mutate.Append`` of each payload onto ``empty.Image`` as an OCI manifest, its config the
    zero-valued ``ConfigFile`` (empty architecture and os, Go's zero time) listing the payloads'
    digests as diff IDs, every layer ``{mediaType, size, digest, annotations}`` in that order."""
    digests = [digest_of(layer.payload) for layer in layers]
    config = _go(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": digests},
            "config": {},
        }
    )
    manifest = _go(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": len(config),
                "digest": digest_of(config),
            },
            "layers": [
                {
                    "mediaType": layer.mime_type,
                    "size": len(layer.payload),
                    "digest": digest,
                    "annotations": layer.annotations,
                }
                for layer, digest in zip(layers, digests, strict=True)
            ],
        }
    )
    return manifest, config


@dataclass(frozen=True)
class Served:
    server: LoopbackServer
    model: ModelRegistry
    repository: str
    digest: str  # the image's manifest digest as the registry serves it

    def image(self, tag: str = "latest") -> str:
        return f"{self.server.authority}/{self.repository}:{tag}"

    def by_digest(self) -> str:
        return f"{self.server.authority}/{self.repository}@{self.digest}"


def signed_name(name: str) -> Reference:
    """The reference the fixture's first payload names (``192.168.64.2:5000/...``); for
    ``-other-attachment``, which holds no payload, the single sample its manifest is."""
    for layer in fixture_layers(name):
        if layer.mime_type == SIMPLE_SIGNING:
            return Reference.parse(Payload.parse(layer.payload).identity)
    return Reference.parse(f"{SIGNED_HOST}/{SINGLE}")


@contextmanager
def serve_fixture(
    name: str, tags: tuple[str, ...] = ("latest",), layers: list[Layer] | None = None
) -> Iterator[Served]:
    """The fixture's image under the repository its payload names, tagged ``tags``, and its
    signatures under the image's ``sha256-<hex>.sig`` tag. A fixture without a manifest
    (``-no-manifest``) has only its signatures, stored for the digest they sign."""
    layers = fixture_layers(name) if layers is None else layers
    repository = signed_name(name).repository
    manifest_path = SIGSTORE / name / "manifest.json"

    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.repository(repository)
        return model

    server, model = serve_model(make)
    if manifest_path.exists():
        raw = manifest_path.read_bytes()
        media_type = json.loads(raw).get("mediaType") or DOCKER_SCHEMA1_SIGNED
        digest = model.put_manifest(repository, raw, media_type)
        for tag in tags:
            model.put_manifest(repository, raw, media_type, tag=tag)
    else:
        digest = Payload.parse(layers[0].payload).digest
    signature_raw, config = cosign_signature_manifest(layers)
    for layer in layers:
        model.put_blob(repository, layer.payload)
    model.put_blob(repository, config)
    model.put_manifest(repository, signature_raw, OCI_MANIFEST, tag=attachment_tag(digest))
    with server:
        yield Served(server, model, repository, digest)


def verify(
    served: Served, ref: str, driver: str = "sync", **options: Any
) -> list[VerifiedSignature] | RegistryError:
    """``client.verify(ref, **options)`` through ``driver``: the signatures, or the error."""

    async def scenario(client: Any) -> Any:
        try:
            return await client.verify(ref, **options)
        except RegistryError as exc:
            return exc

    authority = served.server.authority
    return run_with(  # type: ignore[no-any-return]
        driver, scenario, insecure_registries=[authority], credentials=None, timeout=20
    )


# --- policies --------------------------------------------------------------------------------


def write_policy(tmp_path: Path, scopes: dict[str, list[dict[str, Any]]]) -> str:
    """A policy that rejects everything but ``scopes`` (docker transport)."""
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": scopes}}))
    return str(path)


def sigstore_signed(
    identity: dict[str, str], key: Path = COSIGN_PUB, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "sigstoreSigned",
        "keyPath": str(key),
        "signedIdentity": identity,
        **extra,
    }


def exact_repository(
    served: Served, key: Path = COSIGN_PUB, **extra: Any
) -> dict[str, list[dict[str, Any]]]:
    """``exactRepository``: the image's repository on the loopback host must hold signatures
    naming the fixture's repository on 192.168.64.2:5000 (any tag)."""
    rule = {"type": "exactRepository", "dockerRepository": f"{SIGNED_HOST}/{served.repository}"}
    return {f"{served.server.authority}/{served.repository}": [sigstore_signed(rule, key, **extra)]}


def remap_identity(served: Served) -> dict[str, list[dict[str, Any]]]:
    """``remapIdentity``: the image is judged as if it were on 192.168.64.2:5000, then as
    ``matchRepoDigestOrExact`` (a tag must be signed as that tag; by digest, any tag of the
    repository; a claim naming no tag, as cosign's do, never)."""
    rule = {
        "type": "remapIdentity",
        "prefix": served.server.authority,
        "signedPrefix": SIGNED_HOST,
    }
    return {served.server.authority: [sigstore_signed(rule)]}


def accepted(answer: object, count: int = 1) -> list[VerifiedSignature]:
    assert isinstance(answer, list), answer
    assert len(answer) == count and all(isinstance(v, VerifiedSignature) for v in answer)
    return answer


def rejected(answer: object, *reasons: str) -> SignatureRejected:
    assert isinstance(answer, SignatureRejected), answer
    for reason in reasons:
        assert reason in str(answer), (reason, str(answer))
    assert "Traceback" not in str(answer)
    return answer


# --- the verdicts ----------------------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_cosign_signature_is_accepted_by_policy_and_by_key(driver: str, tmp_path: Path) -> None:
    """dir-img-cosign-valid: accepted with cosign.pub under matchRepository (here
    exactRepository, the remapped name's repository), by tag and by digest, and by the key."""
    with serve_fixture("dir-img-cosign-valid") as served:
        by_repository = write_policy(tmp_path, exact_repository(served))
        found = accepted(verify(served, served.image(), driver, policy=by_repository))
        by_digest = accepted(verify(served, served.by_digest(), driver, policy=by_repository))
        identity = f"{SIGNED_HOST}/{SINGLE}"
        by_key = accepted(
            verify(served, served.image(), driver, key=str(COSIGN_PUB), identity=identity)
        )
    for verified in (found, by_digest, by_key):
        assert verified[0].digest == served.digest
        assert verified[0].reference == identity  # what cosign signed: the repository, no tag
        assert verified[0].layer == digest_of(fixture_layers("dir-img-cosign-valid")[0].payload)
    assert by_key[0].key.startswith("ecdsa-p256 sha256:")


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_signature_of_the_unmodified_manifest_is_rejected(driver: str, tmp_path: Path) -> None:
    """dir-img-cosign-modified-manifest: a valid signature whose payload names the manifest
    before a field was added; containers/image rejects it, regwire says which digest it signs."""
    with serve_fixture("dir-img-cosign-modified-manifest") as served:
        signed = Payload.parse(fixture_layers("dir-img-cosign-modified-manifest")[0].payload)
        assert signed.digest != served.digest
        policy = write_policy(tmp_path, exact_repository(served))
        by_policy = verify(served, served.image(), driver, policy=policy)
        by_key = verify(
            served,
            served.image(),
            driver,
            key=str(COSIGN_PUB),
            identity=f"{SIGNED_HOST}/{served.repository}",
        )
    reason = f"the payload signs {signed.digest}, not the manifest {served.digest}"
    rejected(by_policy, reason, "requires a signature", "sigstoreSigned")
    rejected(by_key, reason, "no signature was accepted")


@pytest.mark.parametrize("driver", DRIVERS)
def test_another_key_rejects_the_valid_signature(driver: str) -> None:
    with serve_fixture("dir-img-cosign-valid") as served:
        answer = verify(
            served,
            served.image(),
            driver,
            key=str(COSIGN2_PUB),
            identity=f"{SIGNED_HOST}/{SINGLE}",
        )
    rejected(answer, "does not verify with ecdsa-p256")


@dataclass(frozen=True)
class Case:
    """A fixture, how the image is named, and containers/image's verdict for it: accepted
    (with this many signatures verified) or rejected (with regwire's reason)."""

    fixture: str
    tags: tuple[str, ...] = ("latest",)
    count: int = 1
    reason: str | None = None  # None: accepted
    key: Path = COSIGN_PUB


# Every key-based fixture with containers/image's verdict (policy_eval_sigstore_test.go), under
# the policy exactRepository (which is matchRepository for the remapped name) and under
# verify(key=cosign.pub, identity=the signed repository).
CASES = {
    "valid": Case("dir-img-cosign-valid"),
    "valid-2: two valid signatures": Case("dir-img-cosign-valid-2", count=2),
    "mixed: one invalid, one valid signature": Case("dir-img-cosign-mixed"),
    "valid-with-tag (containers/image's own)": Case("dir-img-cosign-valid-with-tag", ("tag",)),
    "modified-manifest": Case("dir-img-cosign-modified-manifest", reason="not the manifest"),
    "manifest-digest-error": Case(
        "dir-img-cosign-manifest-digest-error", reason="not the manifest"
    ),
    "other-attachment: no signature at all": Case(
        "dir-img-cosign-other-attachment",
        reason="none exists (1 attachments that are not signatures)",
    ),
    # a key signature (by cosign2.pub) with a Rekor bundle: without a log key containers/image
    # checks the key alone (policy_eval_sigstore.go, trustRoot.rekorPublicKeys == nil)
    "key-rekor without a log key": Case("dir-img-cosign-key-rekor-valid", key=COSIGN2_PUB),
    "key-rekor with cosign.pub": Case(
        "dir-img-cosign-key-rekor-valid", reason="does not verify with ecdsa-p256"
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_key_based_fixture_gets_containers_image_verdict(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    with serve_fixture(case.fixture, case.tags) as served:
        image = served.image(case.tags[0])
        policy = write_policy(tmp_path, exact_repository(served, case.key))
        by_policy = verify(served, image, policy=policy)
        by_key = verify(
            served, image, key=str(case.key), identity=f"{SIGNED_HOST}/{served.repository}"
        )
    if case.reason is None:
        for answer in (by_policy, by_key):
            found = accepted(answer, case.count)
            assert {v.digest for v in found} == {served.digest}
            assert {v.reference for v in found} == {
                Payload.parse(layer.payload).identity for layer in fixture_layers(case.fixture)
            }
    else:
        rejected(by_policy, case.reason, "sigstoreSigned")
        rejected(by_key, case.reason)


def test_the_mixed_fixture_says_why_its_first_signature_failed(tmp_path: Path) -> None:
    """dir-img-cosign-mixed is accepted by its second signature; under a key that verifies
    neither, both reasons are given, one per layer, in the manifest's order."""
    layers = fixture_layers("dir-img-cosign-mixed")
    with serve_fixture("dir-img-cosign-mixed") as served:
        answer = verify(
            served, served.image(), key=str(COSIGN2_PUB), identity=f"{SIGNED_HOST}/{SINGLE}"
        )
    error = rejected(answer, "does not verify with")
    assert len(error.reasons) == len(layers) == 2
    for reason, layer in zip(error.reasons, layers, strict=True):
        assert reason.startswith(f"layer {digest_of(layer.payload)}: ")
        assert "does not verify with" in reason


def test_a_tag_signed_by_containers_image_is_accepted_exactly_under_remap(tmp_path: Path) -> None:
    """dir-img-cosign-valid-with-tag signs ``skopeo-signed:tag``: under matchExact (here
    remapIdentity, which is matchRepoDigestOrExact after renaming) the tag it names is
    accepted and another tag of the same manifest is not; cosign's tag-less signature is
    refused for a tag, as containers/image refuses "Cosign-created signatures" under
    matchExact."""
    with serve_fixture("dir-img-cosign-valid-with-tag", ("tag", "othertag")) as served:
        policy = write_policy(tmp_path, remap_identity(served))
        same_tag = verify(served, served.image("tag"), policy=policy)
        other_tag = verify(served, served.image("othertag"), policy=policy)
        by_digest = verify(served, served.by_digest(), policy=policy)
    found = accepted(same_tag)
    assert accepted(by_digest)[0].reference == found[0].reference
    assert found[0].reference == f"{SIGNED_HOST}/skopeo-signed:tag"
    assert found[0].optional == {"creator": "containers/image 5.21.2-dev", "timestamp": 1657296609}
    rejected(other_tag, "is not accepted for", f"{SIGNED_HOST}/skopeo-signed:tag")
    with serve_fixture("dir-img-cosign-valid") as served:
        policy = write_policy(tmp_path, remap_identity(served))
        cosign_tagless = verify(served, served.image(), policy=policy)
        cosign_by_digest = verify(served, served.by_digest(), policy=policy)
    for answer in (cosign_tagless, cosign_by_digest):
        rejected(answer, "is not accepted for", f"{SIGNED_HOST}/{SINGLE}'")


def test_an_identity_rule_for_another_repository_rejects(tmp_path: Path) -> None:
    """containers/image: "A valid signature with a rejected identity" (exactReference
    this/does-not:match)."""
    with serve_fixture("dir-img-cosign-valid") as served:
        rule = {"type": "exactReference", "dockerReference": "this/does-not:match"}
        scopes = {served.server.authority: [sigstore_signed(rule)]}
        answer = verify(served, served.image(), policy=write_policy(tmp_path, scopes))
        by_key = verify(served, served.image(), key=str(COSIGN_PUB))  # its own repository
    rejected(answer, "is not accepted for", "this/does-not:match")
    rejected(by_key, f"the signature is for {SIGNED_HOST}/{SINGLE}, not {served.server.authority}")


def test_a_valid_signature_by_an_unknown_key_and_a_garbled_one_are_rejected() -> None:
    """containers/image: "A valid signature using an unknown key" (unknown-cosign-key.signature)
    and "A signature which does not verify" (the annotation replaced by other base64)."""
    valid = fixture_layers("dir-img-cosign-valid")[0]
    raw = (SIGSTORE / "unknown-cosign-key.signature").read_bytes()
    document = json.loads(raw[len(SIGSTORE_JSON) :])
    stranger = Layer(
        document["mimeType"], base64.b64decode(document["payload"]), document["annotations"]
    )
    garbled = Layer(
        valid.mime_type,
        valid.payload,
        {**valid.annotations, "dev.cosignproject.cosign/signature": "aW52YWxpZCBzaWduYXR1cmU="},
    )
    for layers in ([stranger], [garbled]):
        with serve_fixture("dir-img-cosign-valid", layers=layers) as served:
            answer = verify(
                served, served.image(), key=str(COSIGN_PUB), identity=f"{SIGNED_HOST}/{SINGLE}"
            )
        rejected(answer, "does not verify with ecdsa-p256")


def test_no_manifest_by_tag_is_not_found() -> None:
    """dir-img-cosign-no-manifest: containers/image cannot read the manifest and rejects; by
    tag there is nothing to verify (regwire's not found, exit 3)."""
    with serve_fixture("dir-img-cosign-no-manifest") as served:
        identity = f"{SIGNED_HOST}/{SINGLE}"
        answer = verify(served, served.image(), key=str(COSIGN_PUB), identity=identity)
    assert isinstance(answer, NotFound), answer


def test_no_manifest_by_digest_is_not_trusted(tmp_path: Path) -> None:
    """dir-img-cosign-no-manifest by digest: the signature verifies, but the manifest it
    signs is not in the registry; containers/image rejects (it cannot read the manifest), and
    cosign's verify fails resolving it. regwire must not call that digest trusted."""
    with serve_fixture("dir-img-cosign-no-manifest") as served:
        identity = f"{SIGNED_HOST}/{SINGLE}"
        by_key = verify(served, served.by_digest(), key=str(COSIGN_PUB), identity=identity)
        policy = write_policy(tmp_path, exact_repository(served))
        by_policy = verify(served, served.by_digest(), policy=policy)
    for answer in (by_key, by_policy):
        assert isinstance(answer, (NotFound, SignatureRejected)), answer


# Policies with fulcio, rekorPublicKey* and pki are judged too: tests/test_keyless.py gives
# their verdicts on the keyless, key+Rekor and PKI fixtures.


# --- the whole verdict of a policy, against a reference implementation -----------------------
#
# tests/test_policy.py checks which scope applies (a reference implementation of the man page's
# lookup). What it does not check is the verdict `trust.evaluate` draws from the scope's
# requirements and the signatures found: all must hold, a reject anywhere refuses, an
# insecureAcceptAnything adds nothing, a sigstoreSigned needs a signature its identity rule
# accepts. The property below checks that verdict with the real fixture signature.

VALID = fixture_layers("dir-img-cosign-valid")[0]
VALID_DIGEST = Payload.parse(VALID.payload).digest
REPOSITORIES = [f"{SIGNED_HOST}/{SINGLE}", f"{SIGNED_HOST}/other", "example.com/team/app"]
KEYS = {"cosign": COSIGN_PUB.read_bytes(), "cosign2": COSIGN2_PUB.read_bytes()}


def _requirement(kind: str, key: str, identity: str) -> dict[str, Any]:
    if kind != "sigstoreSigned":
        return {"type": kind}
    rules = {
        "matchRepository": {"type": "matchRepository"},
        "matchExact": {"type": "matchExact"},
        "matchRepoDigestOrExact": {"type": "matchRepoDigestOrExact"},
        "exactRepository": {"type": "exactRepository", "dockerRepository": REPOSITORIES[0]},
    }
    data = base64.b64encode(KEYS[key]).decode()
    return {"type": kind, "keyData": data, "signedIdentity": rules[identity]}


_requirements = st.lists(
    st.builds(
        _requirement,
        st.sampled_from(["insecureAcceptAnything", "reject", "sigstoreSigned"]),
        st.sampled_from(sorted(KEYS)),
        st.sampled_from(
            ["matchRepository", "matchExact", "matchRepoDigestOrExact", "exactRepository"]
        ),
    ),
    min_size=1,
    max_size=3,
)


def expected_verdict(requirements: list[dict[str, Any]], image: Reference, signed: bool) -> str:
    """The man page's rule, written apart from regwire: every requirement must hold, and the
    first that does not says why (containers/image's ``isRunningImageAllowed`` loop)."""
    claimed = f"{SIGNED_HOST}/{SINGLE}"  # what the fixture's payload names (no tag)
    image_repository = f"{image.registry}/{image.repository}"
    verdicts = []
    for requirement in requirements:
        if requirement["type"] == "insecureAcceptAnything":
            verdicts.append("accept")
        elif requirement["type"] == "reject":
            verdicts.append("reject")
        elif not signed or base64.b64decode(requirement["keyData"]) != KEYS["cosign"]:
            verdicts.append("requires signature")  # nothing, or only another key's signature
        else:
            rule = requirement["signedIdentity"]["type"]
            if rule == "exactRepository":
                ok = claimed == REPOSITORIES[0]
            elif rule == "matchRepository":
                ok = claimed == image_repository
            elif rule == "matchExact":
                ok = False  # the claim names neither tag nor digest
            else:  # matchRepoDigestOrExact: a claim must name a tag or digest (cosign's don't)
                ok = False
            verdicts.append("accept" if ok else "requires signature")
    return next((verdict for verdict in verdicts if verdict != "accept"), "accept")


def _drive(plan: Any) -> Any:
    """Run a plan whose only steps are `Blocking` calls (no registry: the finder is given)."""
    answer = None
    try:
        while True:
            step = plan.send(answer)
            assert isinstance(step, Blocking), step
            answer = step.function()
    except StopIteration as done:
        return done.value


@settings(max_examples=120, deadline=None)
@given(
    scoped=_requirements,
    default=_requirements,
    repository=st.sampled_from(REPOSITORIES),
    scope_on=st.sampled_from(["repository", "host", "elsewhere", "none"]),
    by_digest=st.booleans(),
    signed=st.booleans(),
)
def test_a_policy_verdict_equals_the_reference_implementation(
    scoped: list[dict[str, Any]],
    default: list[dict[str, Any]],
    repository: str,
    scope_on: str,
    by_digest: bool,
    signed: bool,
) -> None:
    image = Reference.parse(f"{repository}@{VALID_DIGEST}" if by_digest else f"{repository}:v1")
    scopes = {
        "repository": {repository: scoped},
        "host": {image.registry: scoped},
        "elsewhere": {"elsewhere.example/x": scoped},
        "none": {},
    }[scope_on]
    policy = Policy.parse(
        json.dumps({"default": default, "transports": {"docker": scopes}}).encode()
    )
    applies = default if scope_on in ("none", "elsewhere") else scoped
    layer = Descriptor(
        SIMPLE_SIGNING,
        digest_of(VALID.payload),
        len(VALID.payload),
        annotations=VALID.annotations,
    )
    found = Attachments((Signature(layer, VALID.payload),) if signed else ())
    finder: Callable[[], Any] = lambda: _finder(found)  # noqa: E731
    try:
        verified = _drive(trust.evaluate(image, policy, finder))
        verdict = "accept"
    except SignatureRejected as exc:
        verdict = "reject" if "rejects it" in exc.problem else "requires signature"
        verified = []
    event(verdict)
    assert verdict == expected_verdict(applies, image, signed)
    if verdict == "accept":
        wanted = sum(r["type"] == "sigstoreSigned" for r in applies)
        assert len(verified) == wanted
        assert all(v.digest == VALID_DIGEST for v in verified)


def _finder(found: Attachments) -> Any:
    return VALID_DIGEST, found
    yield  # a plan, as every Finder
