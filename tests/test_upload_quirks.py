"""Upload quirks of real registries that used to fail (issue 25, items 7, 8 and 9).

Each is reproduced by a switch of the model registry (`Quirks`, or the model's token realm) and
checked by the requests the core sends: the upload succeeds, in as few requests as the quirk
allows, and what the registry learnt is remembered for the uploads after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from regwire.sansio import Registry, drive
from regwire.testing import FakeNetwork, ModelRegistry, Quirks, sha256
from regwire.testing.drivers import DRIVERS, run_with
from regwire.testing.server import LoopbackServer, serve_model

HOST = "registry.test"
DATA = bytes(range(256)) * 40  # 10,240 bytes


def traffic(net: FakeNetwork) -> list[str]:
    """Each request as ``METHOD path`` (the upload's name and state left out), tokens too."""
    out = []
    for request in net.requests:
        path = urlsplit(request.url).path
        if "/blobs/uploads/" in path:
            path = path[: path.index("/blobs/uploads/") + len("/blobs/uploads/")]
        out.append(f"{request.method} {path}")
    return out


# -- item 7: a PUT with the bytes answered 404 BLOB_UNKNOWN (Artifactory) -----------------------


def test_a_put_refused_with_blob_unknown_gets_patches_from_then_on() -> None:
    """Artifactory answers a ``PUT ?digest=`` carrying the bytes with 404 ``BLOB_UNKNOWN``
    (docker/buildx#196, moby/buildkit#1130): the bytes go by PATCH instead, and every later
    upload of the session goes by PATCH at once."""
    m = ModelRegistry(HOST, quirks=Quirks(put_blob_unknown=True))
    net = FakeNetwork(m.handle)
    reg = Registry(HOST, clock=net.clock)
    assert drive(reg.push_blob("team/app", DATA), net) == sha256(DATA)
    assert m.repositories["team/app"].blobs[sha256(DATA)] == DATA
    first = [r for r in traffic(net) if "/uploads/" in r]
    assert first.count("PATCH /v2/team/app/blobs/uploads/") == 1
    assert reg.session.put_refused
    net.requests.clear()
    other = DATA[::-1]
    assert drive(reg.push_blob("team/app", other), net) == sha256(other)
    assert m.repositories["team/app"].blobs[sha256(other)] == other
    puts = [r for r in net.requests if r.method == "PUT"]
    assert len(puts) == 1 and not puts[0].body  # the bytes went by PATCH, the PUT commits
    assert [r.method for r in net.requests] == ["POST", "PATCH", "PUT"]


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(lambda host: ModelRegistry(host, scheme="http"))
    try:
        yield server, model
    finally:
        server.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_pushes_to_a_registry_that_answers_a_put_blob_unknown(
    driver: str, served: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, model = served
    model.quirks = Quirks(put_blob_unknown=True)
    a = server.authority

    async def scenario(client: Any) -> tuple[str, str]:
        first = await client.push_blob(f"{a}/team/app", DATA)
        second = await client.push_blob(f"{a}/team/app", DATA[::-1])
        return first, second

    first, second = run_with(driver, scenario, insecure_registries=[a], credentials=None)
    assert (first, second) == (sha256(DATA), sha256(DATA[::-1]))
    assert model.repositories["team/app"].blobs[first] == DATA
    assert model.repositories["team/app"].blobs[second] == DATA[::-1]


# -- item 8: a token realm that refuses a mount's source scope (Docker Hub) ---------------------


def _hub(host: str = HOST, realm_host: str = "auth.test", **kw: Any) -> ModelRegistry:
    m = ModelRegistry(
        host,
        auth="bearer",
        realm_host=realm_host,
        users={"alice": "s3cret-pw"},
        quirks=Quirks(realm_refuses_mount_source=True),
        **kw,
    )
    m.push_image("team/base", "1", {}, [DATA])
    return m


def test_a_realm_that_refuses_the_mount_source_scope_gets_an_ordinary_upload() -> None:
    """Docker Hub's realm answers 400 ``invalid repository name`` to a token request that
    names the mount's source (go-containerregistry#1679): the blob is uploaded instead, with
    a token for the destination alone."""
    from regwire import Credentials

    m = _hub()
    net = FakeNetwork(m.handle)
    reg = Registry(HOST, clock=net.clock, credentials=Credentials("alice", "s3cret-pw"))
    digest = drive(reg.push_blob("team/app", DATA, mount_from="team/base"), net)
    assert digest == sha256(DATA)
    assert m.repositories["team/app"].blobs[digest] == DATA
    tokens = [r for r in net.requests if urlsplit(r.url).path == "/token"]
    assert "team%2Fbase" in tokens[0].url or "team/base" in tokens[0].url  # the mount asked
    assert "base" not in tokens[-1].url  # the upload's token names the destination only
    posts = [r for r in net.requests if r.method == "POST" and "/uploads/" in r.url]
    # The mount went out once, before the challenge was known; the upload without it.
    assert [("mount=" in r.url) for r in posts] == [True, False]
    assert "Authorization" not in dict(posts[0].headers)
    # An explicit mount says it did not mount, and leaves no upload session behind.
    assert drive(reg.mount_blob("team/other", digest, "team/base"), net) is False
    assert not m.uploads


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_pushes_past_a_realm_that_refuses_the_mount_source(driver: str) -> None:
    from regwire import Credentials

    server, model = serve_model(lambda host: _hub(host, realm_host=host, scheme="http"))
    a = server.authority
    try:

        async def scenario(client: Any) -> str:
            return str(await client.push_blob(f"{a}/team/app", DATA, mount_from="team/base"))

        digest = run_with(
            driver,
            scenario,
            insecure_registries=[a],
            credentials=Credentials("alice", "s3cret-pw"),
        )
    finally:
        server.close()
    assert digest == sha256(DATA)
    assert model.repositories["team/app"].blobs[digest] == DATA
