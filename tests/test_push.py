"""Writing and discovery through `drive` against the model registry, every quirk in turn."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regwire import (
    AccessDenied,
    Credentials,
    InvalidReference,
    ManifestRejected,
    RegistryError,
    Unsupported,
)
from regwire.sansio import Registry, Request, Response, drive
from regwire.sansio.manifests import OCI_INDEX, OCI_MANIFEST
from regwire.testing import FakeClock, FakeNetwork, ModelRegistry, Quirks, sha256

HOST = "registry.test"
USER = Credentials("alice", "s3cret-pw")


def model(**quirks: Any) -> ModelRegistry:
    m = ModelRegistry(HOST, auth="bearer", users={"alice": "s3cret-pw"}, quirks=Quirks(**quirks))
    m.push_image("team/base", "1", {}, [b"base layer"])
    return m


def network(m: ModelRegistry, faults: list[Any] | None = None) -> FakeNetwork:
    return FakeNetwork(m.handle, faults or [], credential_hosts=frozenset({HOST, "auth.test"}))


def registry(net: FakeNetwork, credentials: Credentials | None = USER) -> Registry:
    return Registry(HOST, clock=net.clock, credentials=credentials)


def methods(net: FakeNetwork) -> list[str]:
    return [r.method for r in net.requests if urlsplit(r.url).path != "/token"]


# -- blobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 5000])
@pytest.mark.parametrize("chunk_size", [None, 1000, 4096])
def test_push_blob_monolithic_and_chunked(size: int, chunk_size: int | None) -> None:
    m = model()
    net = network(m)
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    reg = registry(net)
    digest = drive(reg.push_blob("team/app", data, chunk_size=chunk_size), net)
    assert digest == sha256(data)
    assert m.repositories["team/app"].blobs[digest] == data
    assert drive(reg.blob_exists("team/app", digest), net) is True
    assert drive(reg.blob_exists("team/app", sha256(b"other")), net) is False
    patches = [r for r in net.requests if r.method == "PATCH"]
    if chunk_size is None:
        assert not patches
    else:
        assert len(patches) == -(-size // chunk_size)
        ranges = [r.header("Content-Range") for r in patches]
        assert ranges == [
            f"{o}-{min(o + chunk_size, size) - 1}" for o in range(0, size, chunk_size)
        ]
    assert not net.leaked
    assert not m.uploads  # every session closed


def test_push_asks_for_push_and_pull_with_push_first() -> None:
    m = model()
    net = network(m)
    drive(registry(net).push_blob("team/app", b"x"), net)
    token = next(r for r in net.requests if urlsplit(r.url).path == "/token")
    assert parse_qs(urlsplit(token.url).query)["scope"] == ["repository:team/app:push,pull"]


def test_a_pull_only_token_gets_access_denied_naming_the_right() -> None:
    m = model()
    m.pull_only.add("alice")
    net = network(m)
    with pytest.raises(AccessDenied) as denied:
        drive(registry(net).push_blob("team/app", b"x"), net)
    assert denied.value.repository == "team/app" and denied.value.right == "push"
    assert "push" in str(denied.value) and "team/app" in str(denied.value)


@pytest.mark.parametrize(
    ("quirks", "chunk_size"),
    [
        ({"patch_201": True}, 700),  # ECR
        ({"range_never_advances": True}, 700),  # ECR
        ({"max_chunk": 512}, 2048),  # GHCR refuses big chunks with 416: we halve them
        ({"no_chunked": True}, None),  # Google Artifact Registry: monolithic only
        ({"monolithic_refused": True}, None),  # Artifactory: PATCH then an empty PUT
        ({"chunk_min_length": 1500}, 500),  # the minimum raises our chunk size
        ({"upload_location": "absolute"}, 700),
        ({"upload_location": "other-path"}, 700),  # Google: /artifacts-uploads/...
        ({"upload_location": "other-host"}, 700),
        ({"upload_location": "other-host"}, None),
    ],
)
def test_uploads_succeed_on_every_quirk(quirks: dict[str, Any], chunk_size: int | None) -> None:
    m = model(**quirks)
    net = network(m)
    data = bytes(range(256)) * 12
    digest = drive(registry(net).push_blob("team/app", data, chunk_size=chunk_size), net)
    assert m.repositories["team/app"].blobs[digest] == data
    assert not net.leaked  # an upload host elsewhere saw no credentials
    if "chunk_min_length" in quirks:
        sizes = [len(r.body) for r in net.requests if r.method == "PATCH"]
        assert all(s >= 1500 for s in sizes[:-1])


def test_an_upload_that_fails_is_cancelled() -> None:
    m = model(no_chunked=True)
    net = network(m)
    with pytest.raises(Unsupported):
        drive(registry(net).push_blob("team/app", b"x" * 10, chunk_size=4), net)
    assert methods(net)[-1] == "DELETE"
    assert not m.uploads


def test_mounts() -> None:
    m = model()
    net = network(m)
    reg = registry(net)
    layer = sha256(b"base layer")
    assert drive(reg.mount_blob("team/app", layer, "team/base"), net) is True
    assert m.repositories["team/app"].blobs[layer] == b"base layer"
    assert not any(r.method in ("PATCH", "PUT") for r in net.requests)
    # Harbor and ECR answer 202 to every mount: mount_blob cancels; push_blob uploads.
    m2 = model(mount_always_202=True)
    net2 = network(m2)
    reg2 = registry(net2)
    assert drive(reg2.mount_blob("team/app", layer, "team/base"), net2) is False
    assert methods(net2)[-1] == "DELETE" and not m2.uploads
    digest = drive(reg2.push_blob("team/app", b"base layer", mount_from="team/base"), net2)
    assert digest == layer and m2.repositories["team/app"].blobs[layer] == b"base layer"
    mount = next(r for r in net2.requests if "mount=" in r.url and r.method == "POST")
    token = [r for r in net2.requests if urlsplit(r.url).path == "/token"][-1]
    scopes = parse_qs(urlsplit(token.url).query)["scope"]
    assert sorted(scopes) == ["repository:team/app:push,pull", "repository:team/base:pull"]
    assert mount.url.endswith("from=team/base") or "from=team%2Fbase" in mount.url


def test_a_mount_of_what_the_source_lacks_uploads_instead() -> None:
    m = model()
    net = network(m)
    digest = drive(registry(net).push_blob("team/app", b"new", mount_from="team/base"), net)
    assert m.repositories["team/app"].blobs[digest] == b"new"


# -- manifests -----------------------------------------------------------------------------------


def _image(m: ModelRegistry, repository: str, subject: str | None = None) -> bytes:
    config = drive_push(m, repository, b"{}")
    layer = drive_push(m, repository, b"layer")
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 5}
        ],
    }
    if subject:
        document["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
        document["artifactType"] = "application/spdx+json"
        document["annotations"] = {"org.example": "sbom"}
    return json.dumps(document).encode()


def drive_push(m: ModelRegistry, repository: str, data: bytes) -> str:
    net = network(m)
    return drive(registry(net).push_blob(repository, data), net)


def test_push_manifest_by_tag_and_by_digest() -> None:
    m = model()
    raw = _image(m, "team/app")
    net = network(m)
    reg = registry(net)
    digest = drive(reg.push_manifest("team/app", "v1", raw), net)
    assert digest == sha256(raw)
    assert m.repositories["team/app"].tags["v1"] == digest
    assert m.repositories["team/app"].manifests[digest] == (OCI_MANIFEST, raw)
    put = next(r for r in net.requests if r.method == "PUT")
    assert put.body == raw and put.header("Content-Type") == OCI_MANIFEST
    assert drive(reg.push_manifest("team/app", digest, raw), net) == digest
    assert drive(reg.push_manifest("team/app", "", raw), net) == digest
    with pytest.raises(InvalidReference, match="not this one"):
        reg.push_manifest("team/app", sha256(b"other"), raw)
    # ECR answers without Location: nothing depends on it.
    m.quirks.manifest_put_no_location = True
    assert drive(reg.push_manifest("team/app", "v2", raw), net) == digest
    assert drive(reg.manifest("team/app", "v2"), net).raw == raw


def test_a_manifest_naming_missing_blobs_is_rejected_with_its_code() -> None:
    m = model()
    raw = _image(m, "team/app")
    net = network(m)
    with pytest.raises(ManifestRejected) as rejected:
        drive(registry(net).push_manifest("team/other", "v1", raw), net)
    assert rejected.value.codes == ("MANIFEST_BLOB_UNKNOWN",)


def test_a_lying_docker_content_digest_is_a_mismatch() -> None:
    from regwire import DigestMismatch

    m = model()
    raw = _image(m, "team/app")

    def lying(request: Request) -> Response:
        response = m.handle(request)
        if request.method == "PUT" and "/manifests/" in request.url:
            headers = tuple(
                (k, sha256(b"x") if k == "Docker-Content-Digest" else v)
                for k, v in response.headers
            )
            return Response(response.status, headers, response.body)
        return response

    net = FakeNetwork(lying)
    with pytest.raises(DigestMismatch):
        drive(registry(net).push_manifest("team/app", "v1", raw), net)


@pytest.mark.parametrize("api", [True, False])
def test_referrers_through_the_api_or_the_fallback_tag(api: bool) -> None:
    m = model(referrers_api=api)
    subject_raw = _image(m, "team/app")
    net = network(m)
    reg = registry(net)
    subject = drive(reg.push_manifest("team/app", "v1", subject_raw), net)
    sbom = _image(m, "team/app", subject=subject)
    sbom_digest = drive(reg.push_manifest("team/app", "", sbom), net)
    drive(reg.push_manifest("team/app", "", sbom), net)  # again: no duplicate entry
    found = drive(reg.referrers("team/app", subject), net)
    assert [(d.digest, d.artifact_type) for d in found] == [(sbom_digest, "application/spdx+json")]
    assert found[0].annotations == {"org.example": "sbom"}
    assert drive(reg.referrers("team/app", subject, "application/other"), net) == []
    assert drive(reg.referrers("team/app", sbom_digest), net) == []
    tags = m.repositories["team/app"].tags
    fallback = "sha256-" + subject.split(":")[1]
    assert (fallback in tags) is (not api)
    if not api:
        media_type, raw = m.repositories["team/app"].manifests[tags[fallback]]
        index = json.loads(raw)
        assert media_type == OCI_INDEX and index["mediaType"] == OCI_INDEX
        assert [e["digest"] for e in index["manifests"]] == [sbom_digest]
        assert index["manifests"][0]["artifactType"] == "application/spdx+json"


@pytest.mark.parametrize(
    "answer",
    [
        Response(200, (("Content-Type", "text/html"),), b"<html>sign in</html>"),  # Google
        Response(200, (), b'{"schemaVersion": 2, "mediaType": "application/json", "manifests": 3}'),
    ],
)
def test_referrers_answers_that_are_not_an_index_mean_none(answer: Response) -> None:
    m = model()

    def handler(request: Request) -> Response:
        return answer if "/referrers/" in request.url else m.handle(request)

    net = FakeNetwork(handler)
    assert drive(registry(net).referrers("team/base", sha256(b"s")), net) == []


def test_a_fallback_tag_naming_the_subject_itself_means_no_referrers() -> None:
    m = model(referrers_api=False)
    digest = m.repositories["team/base"].tags["1"]
    m.repositories["team/base"].tags["sha256-" + digest.split(":")[1]] = digest  # GitLab
    net = network(m)
    assert drive(registry(net).referrers("team/base", digest), net) == []


# -- deletes and the catalog ---------------------------------------------------------------------


def test_deletes() -> None:
    m = model()
    net = network(m)
    reg = registry(net)
    digest = m.repositories["team/base"].tags["1"]
    layer = sha256(b"base layer")
    drive(reg.delete("team/base", "1"), net)
    assert "1" not in m.repositories["team/base"].tags
    drive(reg.delete("team/base", digest), net)
    assert digest not in m.repositories["team/base"].manifests
    drive(reg.delete_blob("team/base", layer), net)
    assert layer not in m.repositories["team/base"].blobs
    token = next(r for r in net.requests if urlsplit(r.url).path == "/token")
    assert "delete" in parse_qs(urlsplit(token.url).query)["scope"][0]
    m.quirks.deletes = False
    with pytest.raises(Unsupported, match="deletes"):
        drive(reg.delete("team/base", digest), net)


def test_catalog_every_page() -> None:
    from regwire.sansio import Limits

    m = ModelRegistry(HOST)
    for i in range(8):
        m.push_image(f"r/{i}", "1")
    net = FakeNetwork(m.handle)
    names = drive(Registry(HOST, clock=net.clock, limits=Limits(page_size=3)).catalog(), net)
    assert names == sorted(m.repositories)
    assert len([r for r in net.requests if "_catalog" in r.url]) == 3


# -- any upload plan -----------------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    size=st.integers(0, 3000),
    chunk_size=st.one_of(st.none(), st.integers(1, 1200)),
    quirk=st.sampled_from(
        [
            {},
            {"patch_201": True},
            {"range_never_advances": True},
            {"max_chunk": 400},
            {"monolithic_refused": True},
            {"chunk_min_length": 256},
            {"upload_location": "other-path"},
            {"upload_location": "other-host"},
        ]
    ),
    faults=st.lists(st.sampled_from(["ok", "ok", "ok", "503", "reset", "500"]), max_size=12),
    via_source=st.booleans(),
)
def test_any_upload_ends_with_the_bytes_or_a_typed_error(
    size: int, chunk_size: int | None, quirk: dict[str, Any], faults: list[Any], via_source: bool
) -> None:
    m = model(**quirk)
    data = bytes((i * 7) % 251 for i in range(size))
    net = FakeNetwork(m.handle, faults, clock=FakeClock(), source=data)
    reg = registry(net)
    op = (
        reg.push_blob_from("team/app", chunk_size=chunk_size)
        if via_source
        else reg.push_blob("team/app", data, chunk_size=chunk_size)
    )
    try:
        digest = drive(op, net)
    except RegistryError:
        digest = None
    else:
        assert digest == sha256(data)
    stored = m.repositories.get("team/app")
    for key, value in stored.blobs.items() if stored else ():
        assert sha256(value) == key  # never wrong bytes under a digest
    if digest is not None:
        assert stored is not None and stored.blobs[digest] == data
    assert len(net.requests) <= 40 + 2 * (size // (chunk_size or size or 1) + 1)
    assert not net.leaked


# -- uploads from a source (ReadSource, SendBody, EndBody) ---------------------------------------


@pytest.mark.parametrize("size", [0, 1, 700_000])
@pytest.mark.parametrize("chunk_size", [None, 100_000])
@pytest.mark.parametrize("known", [True, False])
def test_push_blob_from_a_source(size: int, chunk_size: int | None, known: bool) -> None:
    from regwire.sansio import EndBody, ReadSource, SendBody

    m = model()
    data = bytes((i * 31) % 256 for i in range(size))
    net = network(m)
    net.source = data
    seen: list[Any] = []

    def watch(intent: Any) -> Any:
        seen.append(type(intent).__name__)
        if isinstance(intent, (SendBody, ReadSource)):
            size_of = len(intent.data) if isinstance(intent, SendBody) else intent.size
            assert size_of <= max(chunk_size or 0, 256 * 1024)  # bounded pieces
        return net(intent)

    reg = registry(net)
    op = reg.push_blob_from(
        "team/app",
        digest=sha256(data) if known else None,
        size=size if known else None,
        chunk_size=chunk_size,
    )
    digest = drive(op, watch)
    assert digest == sha256(data)
    assert m.repositories["team/app"].blobs[digest] == data
    assert net.source_read == size
    if chunk_size is None:
        assert ("EndBody" in seen and "SendBody" in seen) or size == 0
        patch = next(r for r in net.requests if r.method == "PATCH")
        assert patch.send_body
        assert (patch.header("Content-Length") == str(size)) is known
    else:
        assert "EndBody" not in seen
    assert not m.uploads and not net.leaked
    assert ReadSource and EndBody  # the intents are public names


def test_a_source_that_is_not_the_digest_given_is_refused_before_the_commit() -> None:
    from regwire import DigestMismatch

    m = model()
    net = network(m)
    net.source = b"what the file holds"
    with pytest.raises(DigestMismatch):
        drive(registry(net).push_blob_from("team/app", digest=sha256(b"what was promised")), net)
    assert not any(r.method == "PUT" for r in net.requests)  # never committed
    assert net.requests[-1].method == "DELETE"  # cancelled
    assert not m.repositories.get("team/app") or not m.repositories["team/app"].blobs


def test_a_known_digest_mounts_without_reading_the_source() -> None:
    m = model()
    net = network(m)
    net.source = b"base layer"
    digest = drive(
        registry(net).push_blob_from(
            "team/app", digest=sha256(b"base layer"), mount_from="team/base"
        ),
        net,
    )
    assert digest == sha256(b"base layer") and net.source_read == 0


def test_source_uploads_on_quirky_registries() -> None:
    for quirks, chunk_size in [
        ({"patch_201": True}, None),
        ({"range_never_advances": True}, 1000),
        ({"upload_location": "other-host"}, None),
        ({"chunk_min_length": 3000}, 1000),
    ]:
        m = model(**quirks)
        net = network(m)
        net.source = bytes(range(256)) * 40
        digest = drive(registry(net).push_blob_from("team/app", chunk_size=chunk_size), net)
        assert m.repositories["team/app"].blobs[digest] == net.source, quirks
        assert not net.leaked, quirks
