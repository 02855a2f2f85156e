"""A copy between two model registries, for generated sources and destinations and faults on
either side: the destination ends holding the source's exact bytes, or the copy raises a typed
error and no tag there names incomplete content; a re-run completes, sending only what is
missing. Hypothesis, no sockets."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regwire import Credentials, RegistryError
from regwire.sansio import Limits, Registry, drive
from regwire.sansio.events import Request
from regwire.sansio.manifests import INDEX_TYPES
from regwire.testing import FakeNetwork, ModelRegistry, Quirks, sha256
from tests.test_copy import _referrer

POOL = [f"shared layer {i}".encode() * (i + 1) * 40 for i in range(5)]
FAULTS = ["ok"] * 6 + ["503", "reset", "500", "tamper", "truncate", "429", "timeout"]

quirks = st.builds(
    Quirks,
    patch_201=st.booleans(),
    no_chunked=st.booleans(),
    monolithic_refused=st.booleans(),
    mount_always_202=st.booleans(),
    referrers_api=st.booleans(),
    upload_location=st.sampled_from(["relative", "absolute", "other-path"]),
).filter(lambda q: not (q.no_chunked and q.monolithic_refused))  # such a registry takes nothing


@st.composite
def sources(draw: st.DrawFn) -> tuple[ModelRegistry, str]:
    """A source registry holding ``team/x:1``: an image (OCI or schema2) or an index (OCI or a
    Docker list) of 1-3 of them, layers drawn from a shared pool, maybe with referrers."""
    src = ModelRegistry("src.test")
    kind = draw(st.sampled_from(["oci", "schema2", "index", "list"]))
    images = 1 if kind in ("oci", "schema2") else draw(st.integers(1, 3))
    oci = kind in ("oci", "index")
    entries = []
    for i in range(images):
        layers = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=3))
        arch = ["amd64", "arm64", "s390x"][i]
        digest = src.push_image(
            "team/x", None, {"config": {"Labels": {"i": str(i)}}}, layers, oci=oci,
            architecture=arch,
        )  # fmt: skip
        media_type, raw = src.repositories["team/x"].manifests[digest]
        entries.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(raw),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    if images == 1 and kind in ("oci", "schema2"):
        top = entries[0]["digest"]
        src.repositories["team/x"].tags["1"] = top
    else:
        index_type = (
            "application/vnd.oci.image.index.v1+json"
            if oci
            else "application/vnd.docker.distribution.manifest.list.v2+json"
        )
        document = {"schemaVersion": 2, "mediaType": index_type, "manifests": entries}
        top = src.put_manifest("team/x", json.dumps(document).encode(), index_type, "1")
    if draw(st.booleans()):
        sbom = _referrer(src, "team/x", top, b"an sbom")
        if draw(st.booleans()):
            _referrer(src, "team/x", sbom, b"its signature")
    return src, top


class Router:
    """Two fake networks, one per registry, each with its own fault plan; a body's reads and
    writes go to the network its request went to."""

    def __init__(self, src: FakeNetwork, dst: FakeNetwork) -> None:
        self.src, self.dst = src, dst
        self.channels: dict[int, FakeNetwork] = {}

    def __call__(self, intent: Any) -> Any:
        if isinstance(intent, Request):
            host = urlsplit(intent.url).hostname or ""
            network = self.dst if host.endswith("dst.test") else self.src
            self.channels[intent.channel] = network
            return network(intent)
        channel = getattr(intent, "channel", 0)
        return self.channels.get(channel, self.src)(intent)


def complete(model: ModelRegistry, repository: str, digest: str) -> bool:
    """Whether everything ``digest`` names is in the repository, recursively."""
    held = model.repositories.get(repository)
    if held is None or digest not in held.manifests:
        return False
    media_type, raw = held.manifests[digest]
    document = json.loads(raw)
    if media_type in INDEX_TYPES:
        return all(complete(model, repository, m["digest"]) for m in document["manifests"])
    blobs = [document["config"], *document["layers"]]
    return all(b["digest"] in held.blobs for b in blobs if not b.get("urls"))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    source=sources(),
    destination_quirks=quirks,
    present=st.sets(st.sampled_from(POOL)),
    src_faults=st.lists(st.sampled_from(FAULTS), max_size=25),
    dst_faults=st.lists(st.sampled_from(FAULTS), max_size=25),
    referrers=st.booleans(),
    one_put=st.sampled_from([0, 1 << 20]),  # every blob by PATCH, or (small) in one PUT
)
def test_a_copy_under_faults_is_whole_or_untagged_and_a_rerun_finishes_it(
    source: tuple[ModelRegistry, str],
    destination_quirks: Quirks,
    present: set[bytes],
    src_faults: list[Any],
    dst_faults: list[Any],
    referrers: bool,
    one_put: int,
) -> None:
    src, top = source
    dst = ModelRegistry(
        "dst.test",
        auth="bearer",
        realm_host="auth.dst.test",
        users={"u": "pw"},
        quirks=destination_quirks,
    )
    for blob in present:  # some blobs there already
        dst.put_blob("mirror/x", blob)
    clock = FakeNetwork(src.handle).clock
    router = Router(
        FakeNetwork(src.handle, src_faults, clock=clock),
        FakeNetwork(dst.handle, dst_faults, clock=clock),
    )
    router.dst.credential_hosts = frozenset({"dst.test", "auth.dst.test"})
    router.src.credential_hosts = frozenset({"src.test"})

    def ends() -> tuple[Registry, Registry]:
        return (
            Registry("src.test", clock=clock),
            Registry(
                "dst.test",
                clock=clock,
                credentials=Credentials("u", "pw"),
                limits=Limits(one_put_bytes=one_put),
            ),
        )

    a, b = ends()
    try:
        digest = drive(a.copy_to(b, "team/x", "1", "mirror/x", "1", referrers=referrers), router)
    except RegistryError:
        digest = None
    copied = dst.repositories.get("mirror/x")
    for key, value in copied.blobs.items() if copied else ():
        assert sha256(value) == key  # never wrong bytes under a digest
    for key, (_, raw) in copied.manifests.items() if copied else ():
        assert sha256(raw) == key
    if digest is not None:
        assert digest == top
    if copied is not None and "1" in copied.tags:  # the tag goes last: everything is there
        assert copied.tags["1"] == top and complete(dst, "mirror/x", top)
    assert not router.src.leaked and not router.dst.leaked  # no password where it does not go
    # Run again on a good network: it completes, sending only the blobs still missing.
    had = set(copied.blobs) if copied else set()
    calm = Router(FakeNetwork(src.handle, clock=clock), FakeNetwork(dst.handle, clock=clock))
    a, b = ends()
    assert drive(a.copy_to(b, "team/x", "1", "mirror/x", "1", referrers=referrers), calm) == top
    assert dst.repositories["mirror/x"].tags["1"] == top and complete(dst, "mirror/x", top)
    uploads = [r for r in calm.dst.requests if r.method == "POST" and "/blobs/uploads" in r.url]
    missing = {d for d in src.repositories["team/x"].blobs if d not in had}
    # A registry that takes no PATCH, or no bytes in a PUT, costs a new session one refused
    # attempt (then remembered); otherwise each missing blob is one upload session.
    refuses = destination_quirks.no_chunked or destination_quirks.monolithic_refused
    assert len(uploads) <= len(missing) + (refuses and bool(missing))
