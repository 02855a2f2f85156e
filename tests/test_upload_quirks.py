"""Upload quirks of real registries that used to fail (issue 25, items 7, 8 and 9).

Each is reproduced by a switch of the model registry (`Quirks`, or the model's token realm) and
checked by the requests the core sends: the upload succeeds, in as few requests as the quirk
allows, and what the registry learnt is remembered for the uploads after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from regwire import AccessDenied, RegistryError
from regwire.sansio import Registry, Request, Response, drive
from regwire.testing import FakeNetwork, ModelRegistry, Quirks, sha256
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

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


# -- item 9: a PATCH the registry kept part of, answered 416 --------------------------------------

BIG = bytes(range(256)) * 2400  # 614,400 bytes: a streamed PATCH of three pieces
CUT = 250_000


def _calls(m: ModelRegistry) -> tuple[int, int, list[tuple[str | None, int]]]:
    """POSTs and GETs to the upload endpoints, and each PATCH's Content-Range and length."""
    uploads = [r for r in m.requests if "/blobs/uploads" in r.url]
    posts = sum(r.method == "POST" for r in uploads)
    gets = sum(r.method == "GET" for r in uploads)
    patches = [(r.header("Content-Range"), len(r.body)) for r in uploads if r.method == "PATCH"]
    return posts, gets, patches


@pytest.mark.parametrize("with_range", [True, False], ids=["416-range", "get"])
def test_a_streamed_patch_cut_short_resumes_at_the_registrys_range(with_range: bool) -> None:
    """The registry kept the first bytes of the one streamed PATCH and answered 416: the rest
    goes in the same upload session, from where the 416's ``Range`` says (or, without one,
    where a GET of the upload URL says), and nothing is sent twice that the registry holds."""
    m = ModelRegistry(HOST, quirks=Quirks(partial_patch=CUT, partial_patch_range=with_range))
    net = FakeNetwork(m.handle, source=BIG)
    reg = Registry(HOST, clock=net.clock)
    digest = drive(reg.push_blob_from("team/app", digest=sha256(BIG), size=len(BIG)), net)
    assert digest == sha256(BIG) and m.repositories["team/app"].blobs[digest] == BIG
    posts, gets, patches = _calls(m)
    assert posts == 1  # one upload session
    assert gets == (0 if with_range else 1)
    assert patches == [(None, len(BIG)), (f"{CUT}-{len(BIG) - 1}", len(BIG) - CUT)]
    assert not reg.session.patch_refused  # a cut PATCH is no refusal of PATCH


@pytest.mark.parametrize("with_range", [True, False], ids=["416-range", "get"])
@pytest.mark.parametrize("via_source", [False, True], ids=["bytes", "source"])
def test_a_chunk_cut_short_resumes_where_the_416_says(with_range: bool, via_source: bool) -> None:
    """In PATCH chunks: a 416 that says where the upload stands is taken at its word (no GET);
    one that does not is followed by a GET; either way the chunk's rest goes, once."""
    m = ModelRegistry(HOST, quirks=Quirks(partial_patch=1000, partial_patch_range=with_range))
    net = FakeNetwork(m.handle, source=DATA)
    reg = Registry(HOST, clock=net.clock)
    if via_source:
        operation = reg.push_blob_from("team/app", digest=sha256(DATA), chunk_size=4096)
    else:
        operation = reg.push_blob("team/app", DATA, chunk_size=4096)
    assert drive(operation, net) == sha256(DATA)
    assert m.repositories["team/app"].blobs[sha256(DATA)] == DATA
    posts, gets, patches = _calls(m)
    assert posts == 1
    assert gets == (0 if with_range else 1)
    assert patches[1][0].startswith("1000-")  # on from what the registry holds
    # What the registry dropped of the first chunk went again, nothing more.
    assert sum(length for _, length in patches) == len(DATA) + 4096 - 1000


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_resumes_a_streamed_patch_cut_short(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    model.quirks = Quirks(partial_patch=CUT)
    a = server.authority
    path = tmp_path / "layer"
    path.write_bytes(BIG)

    async def scenario(client: Any) -> str:
        with path.open("rb") as file:
            return str(await client.push_blob(f"{a}/team/app", file, digest=sha256(BIG)))

    digest = run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    assert digest == sha256(BIG) and model.repositories["team/app"].blobs[digest] == BIG
    posts, gets, patches = _calls(model)
    assert (posts, gets) == (1, 0)
    assert patches == [(None, len(BIG)), (f"{CUT}-{len(BIG) - 1}", len(BIG) - CUT)]


def test_a_cut_short_patch_of_unknown_length_starts_over_in_one_put() -> None:
    """Without a length there is no ``Content-Range`` to send the rest with: the cut PATCH is
    a refusal as before (one PUT with the whole, the source read again), and still lands."""
    m = ModelRegistry(HOST, quirks=Quirks(partial_patch=CUT))
    net = FakeNetwork(m.handle, source=BIG)
    reg = Registry(HOST, clock=net.clock)
    assert drive(reg.push_blob_from("team/app", digest=sha256(BIG)), net) == sha256(BIG)
    assert m.repositories["team/app"].blobs[sha256(BIG)] == BIG
    assert reg.session.patch_refused


def _rewrite(m: ModelRegistry, method: str, rewrite: Callable[[Response], Response]) -> FakeNetwork:
    """A network whose first upload ``method`` gets ``rewrite`` of the model's answer."""
    left = [1]

    def handler(request: Request) -> Response:
        response = m.handle(request)
        if request.method == method and "/blobs/uploads/" in request.url and left[0]:
            left[0] -= 1
            return rewrite(response)
        return response

    return FakeNetwork(handler)


def _json_error(status: int, code: str) -> Response:
    body = json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode()
    return Response(status, (("Content-Type", "application/json"),), body)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_json_error(404, "NAME_UNKNOWN"), RegistryError),
        (_json_error(403, "DENIED"), AccessDenied),
    ],
)
def test_a_put_failing_otherwise_is_no_refusal_of_put(answer: Response, error: type) -> None:
    """Only a refusal of the bytes in a PUT sends them by PATCH: a 404 for the repository,
    or a 403, is the error it is, and the session learns nothing."""
    m = ModelRegistry(HOST)
    net = _rewrite(m, "PUT", lambda r: answer)
    reg = Registry(HOST, clock=net.clock)
    with pytest.raises(error):
        drive(reg.push_blob("team/app", DATA), net)
    assert not reg.session.put_refused
    assert not any(r.method == "PATCH" for r in net.requests)


def test_a_416_that_kept_nothing_still_sends_the_whole_in_one_put() -> None:
    """GHCR refuses a PATCH over 4 MiB with a 416 and keeps nothing ("0-0" when asked): no
    resume from there, but the whole in one PUT, as before."""
    m = ModelRegistry(HOST, quirks=Quirks(max_chunk=CUT))
    net = FakeNetwork(m.handle, source=BIG)
    reg = Registry(HOST, clock=net.clock)
    assert drive(reg.push_blob_from("team/app", size=len(BIG)), net) == sha256(BIG)
    assert m.repositories["team/app"].blobs[sha256(BIG)] == BIG
    assert reg.session.patch_refused


def test_a_416_with_a_range_and_no_location_resumes_at_the_same_url() -> None:
    m = ModelRegistry(HOST, quirks=Quirks(partial_patch=CUT))
    net = _rewrite(
        m,
        "PATCH",
        lambda r: Response(r.status, tuple(h for h in r.headers if h[0] != "Location"), r.body),
    )
    net.source = BIG
    reg = Registry(HOST, clock=net.clock)
    assert drive(reg.push_blob_from("team/app", size=len(BIG)), net) == sha256(BIG)
    assert m.repositories["team/app"].blobs[sha256(BIG)] == BIG
    assert _calls(m)[:2] == (1, 0)


def test_credentials_the_realm_refuses_on_a_mount_are_still_an_authentication_error() -> None:
    """Only the realm's 400 for the source's scope means "upload instead": credentials it
    refuses (401) are the caller's to fix, mount or not."""
    from regwire import AuthenticationError, Credentials

    m = _hub()
    net = FakeNetwork(m.handle)
    reg = Registry(HOST, clock=net.clock, credentials=Credentials("alice", "wrong"))
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        drive(reg.push_blob("team/app", DATA, mount_from="team/base"), net)
    assert not any(r.method == "PUT" for r in net.requests)


def test_a_copy_to_a_registry_that_answers_a_put_blob_unknown_goes_by_patch() -> None:
    """A copy sends a small blob in one ``PUT ?digest=``; Artifactory's 404 ``BLOB_UNKNOWN``
    to that PUT sends the copy to PATCHes, and the copy completes (issue 25, item 7)."""
    src = ModelRegistry("src.test")
    dst = ModelRegistry(HOST, quirks=Quirks(put_blob_unknown=True))
    digest = src.push_image("team/app", "1", {"config": {}}, [DATA])
    net = FakeNetwork(lambda r: src.handle(r) if "src.test" in r.url else dst.handle(r))
    source, destination = Registry("src.test", clock=net.clock), Registry(HOST, clock=net.clock)
    assert drive(source.copy_to(destination, "team/app", "1", "mirror/app", "1"), net) == digest
    assert dst.repositories["mirror/app"].tags["1"] == digest
    assert dst.repositories["mirror/app"].blobs[sha256(DATA)] == DATA
    assert destination.session.put_refused
