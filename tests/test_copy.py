"""Copies between two model registries, through drive: every byte checked, every digest kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regwire import DigestMismatch, Platform
from regwire.sansio import Registry, Request, Response, drive
from regwire.sansio.events import Joined, Parallel
from regwire.testing import FakeNetwork, ModelRegistry


def pair() -> tuple[ModelRegistry, ModelRegistry, FakeNetwork]:
    src = ModelRegistry("src.test")
    dst = ModelRegistry(
        "dst.test", auth="bearer", realm_host="auth.dst.test", users={"u": "pw-dst"}
    )
    src.push_image(
        "team/app", "1", {"config": {"Labels": {"k": "v"}}}, [b"layer one", b"layer two"]
    )
    src.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])

    def route(request: Request) -> Response:
        host = urlsplit(request.url).netloc
        return (dst if host.endswith("dst.test") else src).handle(request)

    return src, dst, FakeNetwork(route)


def registries(net: FakeNetwork) -> tuple[Registry, Registry]:
    from regwire import Credentials

    return (
        Registry("src.test", clock=net.clock),
        Registry("dst.test", clock=net.clock, credentials=Credentials("u", "pw-dst")),
    )


def test_an_image_is_copied_byte_for_byte_and_again_sends_nothing() -> None:
    src, dst, net = pair()
    a, b = registries(net)
    digest = drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)
    assert digest == src.repositories["team/app"].tags["1"]
    assert dst.repositories["mirror/app"].tags["1"] == digest
    assert (
        dst.repositories["mirror/app"].manifests[digest]
        == src.repositories["team/app"].manifests[digest]
    )
    assert dst.repositories["mirror/app"].blobs == src.repositories["team/app"].blobs
    # Small blobs go in one streamed PUT ?digest= each, read from the source as they are sent.
    uploads = [r for r in net.requests if "/blobs/uploads/" in r.url and r.method != "POST"]
    assert all(r.method == "PUT" and r.send_body and r.channel == 1 for r in uploads)
    assert len(uploads) == 3 and all(
        "digest=sha256%3A" in r.url or "digest=sha256:" in r.url for r in uploads
    )
    before = len(net.requests)
    drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)  # run again
    again = net.requests[before:]
    assert not any(r.method in ("PATCH", "POST") for r in again)  # only what was missing: none


def test_an_index_with_every_image_and_one_platform_alone() -> None:
    src, dst, net = pair()
    a, b = registries(net)
    index = drive(a.copy_to(b, "team/multi", "1", "mirror/multi", "all"), net)
    assert index == src.repositories["team/multi"].tags["1"]
    for digest in src.repositories["team/multi"].manifests:
        assert digest in dst.repositories["mirror/multi"].manifests
    one = drive(
        a.copy_to(b, "team/multi", "1", "mirror/arm", "arm", [Platform("linux", "arm64")]), net
    )
    assert dst.repositories["mirror/arm"].tags["arm"] == one != index
    assert len(dst.repositories["mirror/arm"].manifests) == 1


def test_on_one_registry_blobs_are_mounted() -> None:
    src, _, net = pair()
    a = Registry("src.test", clock=net.clock)
    drive(a.copy_to(a, "team/app", "1", "team/copy", "1"), net)
    assert not any(r.method == "PATCH" for r in net.requests)
    assert any("mount=" in r.url for r in net.requests)
    assert src.repositories["team/copy"].tags["1"] == src.repositories["team/app"].tags["1"]


def test_a_tampered_source_blob_is_never_committed() -> None:
    src, dst, net = pair()
    layer = next(
        d for d, data in src.repositories["team/app"].blobs.items() if data == b"layer two"
    )
    src.repositories["team/app"].blobs[layer] = b"forged tw"  # the declared size, other bytes
    a, b = registries(net)
    with pytest.raises(DigestMismatch):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)
    copied = dst.repositories.get("mirror/app")
    assert copied is None or ("1" not in copied.tags and layer not in copied.blobs)
    for digest, data in copied.blobs.items() if copied else ():
        assert __import__("regwire.testing", fromlist=["sha256"]).sha256(data) == digest


def test_the_tag_goes_last() -> None:
    _, _, net = pair()
    a, b = registries(net)
    drive(a.copy_to(b, "team/multi", "1", "mirror/multi", "latest"), net)
    puts = [
        urlsplit(r.url).path for r in net.requests if r.method == "PUT" and "/manifests/" in r.url
    ]
    assert puts[-1].endswith("/manifests/latest")
    assert all("sha256:" in p for p in puts[:-1])


def test_copy_validation() -> None:
    from regwire import InvalidReference

    a = Registry("src.test")
    with pytest.raises(InvalidReference):
        a.copy_to(a, "team/App", "1", "x/y")
    with pytest.raises(InvalidReference):
        a.copy_to(a, "team/app", "1", "x/y", "-bad")
    assert Any


def test_a_blob_missing_at_the_source_is_a_typed_error_and_nothing_is_tagged() -> None:
    from regwire import NotFound

    src, dst, net = pair()
    layer = next(
        d for d, data in src.repositories["team/app"].blobs.items() if data == b"layer one"
    )
    del src.repositories["team/app"].blobs[layer]
    a, b = registries(net)
    with pytest.raises(NotFound) as caught:
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)
    assert layer in str(caught.value)
    copied = dst.repositories.get("mirror/app")
    assert copied is None or not copied.tags


def test_platforms_that_match_nothing_and_a_platform_copied_by_digest_alone() -> None:
    from regwire import ProtocolError

    _, dst, net = pair()
    a, b = registries(net)
    with pytest.raises(ProtocolError, match="no image for the platforms"):
        drive(a.copy_to(b, "team/multi", "1", "mirror/m", "x", [Platform("windows", "amd64")]), net)
    digest = drive(
        a.copy_to(b, "team/multi", "1", "mirror/m", "", [Platform("linux", "amd64")]), net
    )
    assert digest in dst.repositories["mirror/m"].manifests
    assert not dst.repositories["mirror/m"].tags


@pytest.mark.parametrize(
    "quirk",
    [
        {"patch_201": True},
        {"upload_location": "absolute"},
        {"upload_location": "other-path"},
        {"manifest_put_no_location": True},
        {"no_chunked": True},
        {"monolithic_refused": True},
        {"mount_always_202": True},
        {"max_chunk": 64},
    ],
)
def test_copies_land_on_registries_with_upload_quirks(quirk: dict[str, Any]) -> None:
    from regwire.testing import Quirks

    src, dst, net = pair()
    dst.quirks = Quirks(**quirk)
    a, b = registries(net)
    digest = drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)
    assert dst.repositories["mirror/app"].tags["1"] == digest
    assert dst.repositories["mirror/app"].blobs == src.repositories["team/app"].blobs


def test_foreign_layers_stay_where_they_are() -> None:
    import json

    src, dst, net = pair()
    repo = src.repositories["team/app"]
    manifest = json.loads(repo.manifests[repo.tags["1"]][1])
    manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json"
    manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
    for layer in manifest["layers"]:
        layer["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": "sha256:" + "ab" * 32,
        "size": 12,
        "urls": ["https://foreign.test/layer"],
    }
    manifest["layers"].append(foreign)
    src.put_manifest(
        "team/app",
        json.dumps(manifest).encode(),
        "application/vnd.docker.distribution.manifest.v2+json",
        "foreign",
    )
    a, b = registries(net)
    drive(a.copy_to(b, "team/app", "foreign", "mirror/app", "foreign"), net)
    assert foreign["digest"] not in dst.repositories["mirror/app"].blobs
    assert not any("foreign.test" in r.url for r in net.requests)


def test_a_connection_lost_mid_copy_is_a_network_error() -> None:
    from regwire import NetworkError

    _, dst, net = pair()
    a, b = registries(net)
    # Every request after the first few fails: the copy stops with a typed error, never a
    # half-written tag, and no credential goes anywhere it should not.
    lossy = FakeNetwork(net.handler, faults=["ok"] * 9 + ["reset"] * 200, clock=net.clock)
    lossy.credential_hosts = frozenset({"dst.test", "auth.dst.test"})
    with pytest.raises(NetworkError):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), lossy)
    copied = dst.repositories.get("mirror/app")
    assert copied is None or not copied.tags
    assert not lossy.leaked


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=150)
@given(
    faults=st.lists(
        st.sampled_from(["ok", "ok", "ok", "503", "reset", "500", "tamper", "truncate", "429"]),
        max_size=30,
    ),
    index=st.booleans(),
    same_registry=st.booleans(),
)
def test_any_copy_ends_with_the_image_or_a_typed_error(
    faults: list[Any], index: bool, same_registry: bool
) -> None:
    from regwire import RegistryError
    from regwire.testing import sha256

    src, dst, net = pair()
    lossy = FakeNetwork(net.handler, faults, clock=net.clock)
    lossy.credential_hosts = frozenset({"dst.test", "auth.dst.test"})
    a, b = registries(lossy)
    if same_registry:
        b, dst = a, src
    source = "team/multi" if index else "team/app"
    try:
        digest = drive(a.copy_to(b, source, "1", "mirror/x", "1"), lossy)
    except RegistryError:
        digest = None
    copied = dst.repositories.get("mirror/x")
    for key, value in copied.blobs.items() if copied else ():
        assert sha256(value) == key  # never wrong bytes under a digest
    for key, (_, raw) in copied.manifests.items() if copied else ():
        assert sha256(raw) == key
    if digest is not None:
        assert digest == src.repositories[source].tags["1"]
        assert copied is not None and copied.tags["1"] == digest
    elif copied is not None and "1" in copied.tags:  # the tag goes last: everything is there
        assert copied.tags["1"] == src.repositories[source].tags["1"]
    assert not lossy.leaked
    # Run again on a good network: it completes, sending only the blobs still missing.
    had = set(copied.blobs) if copied else set()
    calm = FakeNetwork(net.handler, clock=net.clock)
    a, b = registries(calm)
    if same_registry:
        b = a
    assert (
        drive(a.copy_to(b, source, "1", "mirror/x", "1"), calm)
        == (src.repositories[source].tags["1"])
    )
    copied = dst.repositories["mirror/x"]
    assert copied.tags["1"] == src.repositories[source].tags["1"]
    sent = [r for r in calm.requests if r.method == "PATCH"]
    missing = {d for d in src.repositories[source].blobs if d not in had}
    assert len(sent) <= len(missing)


def _referrer(src: ModelRegistry, repository: str, subject: str, note: bytes) -> str:
    """An SBOM-like artifact whose subject is ``subject``, pushed into the source model."""
    import json

    blob = src.put_blob(repository, note)
    empty = src.put_blob(repository, b"{}")
    document = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": empty,
            "size": 2,
        },
        "layers": [{"mediaType": "application/spdx+json", "digest": blob, "size": len(note)}],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": subject,
            "size": 1,
        },
    }
    raw = json.dumps(document).encode()
    return src.put_manifest(repository, raw, "application/vnd.oci.image.manifest.v1+json")


@pytest.mark.parametrize("api", [True, False])
def test_referrers_follow_every_manifest_copied_recursively(api: bool) -> None:
    from regwire.testing import Quirks

    src, dst, net = pair()
    dst.quirks = Quirks(referrers_api=api)
    image = src.repositories["team/app"].tags["1"]
    sbom = _referrer(src, "team/app", image, b"sbom of the image")
    signature = _referrer(src, "team/app", sbom, b"signature of the sbom")
    a, b = registries(net)
    drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)
    assert sbom not in dst.repositories["mirror/app"].manifests  # only when asked
    drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", referrers=True), net)
    copied = dst.repositories["mirror/app"]
    assert copied.manifests[sbom] == src.repositories["team/app"].manifests[sbom]
    assert copied.manifests[signature] == src.repositories["team/app"].manifests[signature]
    found = drive(b.referrers("mirror/app", image), net)
    assert [d.digest for d in found] == [sbom]
    assert [d.digest for d in drive(b.referrers("mirror/app", sbom), net)] == [signature]
    if not api:  # listed by the client in the fallback tags, as the spec asks
        assert "sha256-" + image.split(":")[1] in copied.tags
    puts = [r for r in net.requests if r.method == "PUT" and "/manifests/" in r.url]
    assert puts[-1].url.endswith("/manifests/1")  # the tag still goes last


def test_referrers_of_an_index_and_its_images() -> None:
    src, dst, net = pair()
    repo = src.repositories["team/multi"]
    index = repo.tags["1"]
    child = next(d for d in repo.manifests if d != index)
    on_index = _referrer(src, "team/multi", index, b"index attestation")
    on_child = _referrer(src, "team/multi", child, b"child attestation")
    a, b = registries(net)
    drive(a.copy_to(b, "team/multi", "1", "mirror/multi", "1", referrers=True), net)
    copied = dst.repositories["mirror/multi"]
    assert on_index in copied.manifests and on_child in copied.manifests
    assert copied.tags["1"] == index


@pytest.mark.parametrize("kind", ["open", "read", "send", "end"])
def test_a_connection_lost_inside_a_streamed_blob_is_a_network_error(kind: str) -> None:
    """The streaming part of a copy: each of its intents failing ends in a NetworkError that
    names the side that failed, and nothing is committed."""
    from regwire import NetworkError
    from regwire.sansio import ConnectionFailed, EndBody, ReadBody, SendBody

    _, dst, net = pair()

    def perform(intent: Any) -> Any:
        hit = {
            "open": isinstance(intent, Request) and intent.send_body,
            "read": isinstance(intent, ReadBody),
            "send": isinstance(intent, SendBody),
            "end": isinstance(intent, EndBody),
        }[kind]
        if hit:
            return ConnectionFailed("reset", "injected")
        return net(intent)

    a, b = registries(net)
    with pytest.raises(NetworkError) as caught:
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), perform)
    side = "src.test" if kind == "read" else "dst.test"
    assert side in str(caught.value)
    copied = dst.repositories.get("mirror/app")
    assert copied is None or (not copied.tags and not copied.blobs)


def test_the_destination_refusing_the_streamed_upload_is_typed() -> None:
    from regwire import UploadRejected

    src, dst, net = pair()

    def handler(request: Request) -> Response:
        if "/blobs/uploads/" in request.url and request.method in ("PATCH", "PUT"):
            return Response(400, (), b'{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"no"}]}')
        return net.handler(request)

    refusing = FakeNetwork(handler, clock=net.clock)
    a, b = registries(refusing)
    with pytest.raises(UploadRejected):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), refusing)
    sent = [r.method for r in refusing.requests if "/blobs/uploads/" in r.url]
    assert sent == ["POST", "PUT", "DELETE", "POST", "PATCH"]  # the PUT refused, then a PATCH
    copied = dst.repositories.get("mirror/app")
    assert copied is None or not copied.tags
    assert src  # the source is only read


def test_a_referrer_index_and_a_shared_referrer_are_copied_once() -> None:
    import json

    src, dst, net = pair()
    repo = src.repositories["team/app"]
    image = repo.tags["1"]
    sbom = _referrer(src, "team/app", image, b"an sbom")
    # An index whose subject is the image, holding the sbom (an attestation bundle).
    document = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "artifactType": "application/vnd.example.bundle",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sbom,
                "size": len(repo.manifests[sbom][1]),
            }
        ],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image,
            "size": 1,
        },
    }
    bundle = src.put_manifest(
        "team/app", json.dumps(document).encode(), "application/vnd.oci.image.index.v1+json"
    )
    a, b = registries(net)
    drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", referrers=True), net)
    copied = dst.repositories["mirror/app"]
    assert bundle in copied.manifests and sbom in copied.manifests
    found = {d.digest for d in drive(b.referrers("mirror/app", image), net)}
    assert found == {sbom, bundle}


# -- several at once -------------------------------------------------------------------------------


def interleave(
    operations: tuple[Any, ...], network: Callable[[], FakeNetwork], choose: Callable[[int], int]
) -> tuple[object, ...]:
    """Run ``operations`` with their steps interleaved as ``choose`` picks (each with its own
    network state, as each has its own connections in a driver): what an event loop may do."""
    states: list[list[Any]] = [[op, network(), None] for op in operations]
    outcomes: list[object] = [None] * len(operations)
    pending = list(range(len(operations)))
    while pending:
        index = pending[choose(len(pending))]
        op, perform, event = states[index]
        try:
            intent = op.send(event)
        except StopIteration as done:
            outcomes[index] = done.value
            pending.remove(index)
            continue
        except Exception as exc:
            outcomes[index] = exc
            pending.remove(index)
            continue
        if isinstance(intent, Parallel):
            states[index][2] = Joined(interleave(intent.operations, network, choose))
        else:
            states[index][2] = perform(intent)
    return tuple(outcomes)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), concurrency=st.integers(2, 5), present=st.sets(st.integers(0, 6)))
def test_blobs_and_images_copied_at_once_in_any_interleaving_end_the_same(
    data: st.DataObject, concurrency: int, present: set[int]
) -> None:
    src, dst, net = pair()
    platforms = [("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "s390x", None)]
    src.push_index("team/wide", "1", platforms)
    for i, (_, blob) in enumerate(sorted(src.repositories["team/wide"].blobs.items())):
        if i in present:  # some blobs there already
            dst.put_blob("mirror/wide", blob)
    a, b = registries(net)

    def network() -> FakeNetwork:
        return FakeNetwork(net.handler, clock=net.clock)

    def choose(n: int) -> int:
        return data.draw(st.integers(0, n - 1))

    yielded = []

    def perform(intent: Any) -> Any:
        if isinstance(intent, Parallel):
            yielded.append(len(intent.operations))
            return Joined(interleave(intent.operations, network, choose))
        return net(intent)

    digest = drive_plain(
        a.copy_to(b, "team/wide", "1", "mirror/wide", "1", concurrency=concurrency), perform
    )
    assert (
        digest
        == src.repositories["team/wide"].tags["1"]
        == dst.repositories["mirror/wide"].tags["1"]
    )
    assert dst.repositories["mirror/wide"].manifests == src.repositories["team/wide"].manifests
    assert dst.repositories["mirror/wide"].blobs == src.repositories["team/wide"].blobs
    assert yielded  # the core did ask for several at once
    again = drive(a.copy_to(b, "team/wide", "1", "mirror/wide", "1", concurrency=1), net)
    assert again == digest


def drive_plain(operation: Any, perform: Callable[[Any], Any]) -> Any:
    """`drive` without its own handling of Parallel: ``perform`` answers every intent."""
    event = None
    while True:
        try:
            intent = operation.send(event)
        except StopIteration as done:
            return done.value
        event = perform(intent)


def test_an_error_in_one_of_several_is_the_copys_error_and_the_tag_is_not_written() -> None:
    src, dst, net = pair()
    layer = src.put_blob("team/app", b"layer two")
    src.repositories["team/app"].blobs[layer] = b"layer 2wo"
    a, b = registries(net)
    with pytest.raises(DigestMismatch):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", concurrency=4), net)
    held = dst.repositories.get("mirror/app")
    assert held is None or "1" not in held.tags
    with pytest.raises(ValueError, match="at least 1"):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", concurrency=0), net)


@pytest.mark.parametrize("signed", [True, False])
def test_schema1_is_copied_as_it_is_where_accepted_and_rejected_clearly_where_not(
    signed: bool,
) -> None:
    from regwire import ManifestRejected
    from regwire.testing import Quirks

    src, dst, net = pair()
    digest = src.push_schema1("team/old", "1", {"architecture": "amd64"}, signed=signed)
    a, b = registries(net)
    assert drive(a.copy_to(b, "team/old", "1", "mirror/old", "1"), net) == digest
    assert dst.repositories["mirror/old"].tags["1"] == digest
    assert (
        dst.repositories["mirror/old"].manifests[digest]
        == src.repositories["team/old"].manifests[digest]
    )
    dst.quirks = Quirks(schema1_refused=True)  # distribution 2.8
    with pytest.raises(ManifestRejected, match="does not take Docker schema1") as caught:
        drive(a.copy_to(b, "team/old", "1", "mirror/refused", "1"), net)
    assert "try again later" not in str(caught.value)
    held = dst.repositories.get("mirror/refused")
    assert held is None or not held.tags


def sent_per_upload(net: FakeNetwork) -> tuple[Callable[[Any], Any], list[int]]:
    """``net`` as a perform that also counts the body bytes each upload request was sent
    (whether or not it ended): one entry per request that sends its body, in order."""
    from regwire.sansio.events import SendBody

    sent: list[int] = []

    def perform(intent: Any) -> Any:
        if isinstance(intent, Request) and intent.send_body:
            sent.append(0)
        elif isinstance(intent, SendBody):
            sent[-1] += len(intent.data)
        return net(intent)

    return perform, sent


@pytest.mark.parametrize("one_put", [0, 1 << 20], ids=["patch", "one-put"])
def test_a_tampered_source_never_gets_its_last_byte_to_the_destination(one_put: int) -> None:
    """A registry commits a ``PUT ?digest=`` as its last byte arrives: the copy holds the last
    piece back until the digest matched, so even a destination that checks nothing never
    receives the wrong bytes whole."""
    from regwire import Credentials
    from regwire.sansio import Limits

    src, dst, net = pair()
    repo = src.repositories["team/app"]
    layer = next(d for d, b in repo.blobs.items() if b == b"layer two")
    repo.blobs[layer] = b"layer 2wo"  # same length, other bytes
    perform, sent = sent_per_upload(net)

    a = Registry("src.test", clock=net.clock)
    b = Registry(
        "dst.test",
        clock=net.clock,
        credentials=Credentials("u", "pw-dst"),
        limits=Limits(one_put_bytes=one_put),
    )
    with pytest.raises(DigestMismatch):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), perform)
    assert sent and sent[-1] < len(b"layer two")  # the tampered blob's upload stopped short
    copied = dst.repositories.get("mirror/app")
    assert copied is None or (layer not in copied.blobs and not copied.tags)


def test_the_first_blob_goes_alone_only_until_both_ends_know_their_tokens() -> None:
    """The first copy to a repository sends one blob first (it fetches the push token the rest
    share); a copy whose ends already hold their tokens sends every blob of an image at once."""
    src, dst, net = pair()
    assert not dst.repositories
    a, b = registries(net)
    sizes: list[int] = []

    def perform(intent: Any) -> Any:
        if isinstance(intent, Parallel):
            sizes.append(len(intent.operations))
        return net(intent)

    image = src.repositories["team/app"]
    blobs = len(image.blobs)  # the config and two layers
    drive_plain(a.copy_to(b, "team/app", "1", "mirror/app", "1", concurrency=4), perform)
    assert sizes == [blobs - 1]  # one alone, then the rest together
    pushes = [r for r in net.requests if "auth.dst.test" in r.url and "push" in r.url]
    assert len(pushes) == 1  # one push token for the three blobs
    sizes.clear()
    drive_plain(a.copy_to(b, "team/app", "1", "mirror/app2", "1", concurrency=4), perform)
    assert sizes == [blobs - 1]  # a new repository: a new token to learn first
    src.push_image("team/app", "2", {"config": {"Labels": {"v": "2"}}}, [b"three", b"four"])
    sizes.clear()
    drive_plain(a.copy_to(b, "team/app", "2", "mirror/app", "2", concurrency=4), perform)
    assert sizes == [3]  # both ends known: every blob at once
