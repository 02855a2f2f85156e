"""Registries that answer uploads, mounts, manifests, deletes and referrers wrongly.

Each test rewrites one answer of the model registry and asserts the typed error (or the
recovery) the core must make of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from regwire import (
    AccessDenied,
    AuthenticationError,
    ManifestRejected,
    NetworkError,
    ProtocolError,
    RegistryError,
    ServerError,
    TooLarge,
    Unsupported,
    UploadRejected,
)
from regwire.sansio import (
    BodyChunk,
    ConnectionFailed,
    EndBody,
    ReadSource,
    Registry,
    Request,
    Response,
    SendBody,
    drive,
)
from regwire.testing import FakeNetwork, ModelRegistry, sha256

HOST = "registry.test"
Rule = Callable[[Request, Response], Response | None]


def model() -> ModelRegistry:
    m = ModelRegistry(HOST)
    m.push_image("team/base", "1", {}, [b"base layer"])
    return m


def rewriting(m: ModelRegistry, rule: Rule) -> FakeNetwork:
    def handler(request: Request) -> Response:
        response = m.handle(request)
        return rule(request, response) or response

    return FakeNetwork(handler)


def on(method: str, rewrite: Callable[[Response], Response], times: int = 1_000) -> Rule:
    left = [times]

    def rule(request: Request, response: Response) -> Response | None:
        if request.method == method and "/uploads" in request.url and left[0] > 0:
            left[0] -= 1
            return rewrite(response)
        return None

    return rule


def with_header(response: Response, name: str, value: str | None) -> Response:
    headers = tuple((k, v) for k, v in response.headers if k.lower() != name.lower())
    return replace(response, headers=headers + (((name, value),) if value is not None else ()))


def push(net: FakeNetwork, data: bytes = b"x" * 100, **kw: Any) -> str:
    return drive(Registry(HOST, clock=net.clock).push_blob("team/app", data, **kw), net)


def test_blob_exists_refused() -> None:
    net = rewriting(model(), lambda q, r: Response(403) if q.method == "HEAD" else None)
    with pytest.raises(AccessDenied):
        drive(Registry(HOST, clock=net.clock).blob_exists("team/base", sha256(b"x")), net)


@pytest.mark.parametrize(
    ("location", "problem"),
    [("ftp://registry.test/up", "not an http"), ("http://registry.test/up", "leaves https")],
)
def test_bad_upload_locations(location: str, problem: str) -> None:
    net = rewriting(
        model(),
        lambda q, r: with_header(r, "Location", location) if q.method == "POST" else None,
    )
    with pytest.raises(ProtocolError, match=problem):
        push(net)


def test_an_upload_start_without_location_or_answered_201() -> None:
    net = rewriting(model(), on("POST", lambda r: with_header(r, "Location", None)))
    with pytest.raises(ProtocolError, match="without a Location"):
        push(net)
    net = rewriting(model(), on("POST", lambda r: Response(201)))
    with pytest.raises(ProtocolError, match="201 to an empty upload start"):
        push(net)


def test_both_range_forms_and_a_garbage_range() -> None:
    for form in ("bytes=0-{end}", "0-{end}", "nonsense"):

        def rewrite(response: Response, form: str = form) -> Response:
            value = response.header("Range") or "0-0"
            end = value.split("-")[1]
            return with_header(response, "Range", form.format(end=end))

        m = model()
        net = rewriting(m, on("PATCH", rewrite))
        digest = push(net, bytes(range(250)), chunk_size=100)
        assert m.repositories["team/app"].blobs[digest] == bytes(range(250))


def test_a_range_claiming_more_than_was_sent() -> None:
    net = rewriting(model(), on("PATCH", lambda r: with_header(r, "Range", "0-99999")))
    with pytest.raises(ProtocolError, match="more than we sent"):
        push(net, chunk_size=10)


def test_a_416_whose_status_cannot_be_read() -> None:
    for status_answer, error in [
        (Response(404), RegistryError),
        (Response(204), UploadRejected),  # no Range
    ]:
        m = model()

        def rule(q: Request, r: Response, answer: Response = status_answer) -> Response | None:
            if q.method == "PATCH":
                return Response(416)
            if q.method == "GET" and "/uploads/" in q.url:
                return answer
            return None

        with pytest.raises(error):
            push(rewriting(m, rule), chunk_size=10)
        assert not m.uploads  # cancelled


def test_an_upload_that_never_advances() -> None:
    def rule(q: Request, r: Response) -> Response | None:
        if q.method == "PATCH":
            return Response(416)
        if q.method == "GET" and "/uploads/" in q.url:
            return Response(204, (("Range", "0-4"),))  # holds 5 bytes, always
        return None

    with pytest.raises(UploadRejected, match="does not advance"):
        push(rewriting(model(), rule), chunk_size=10)


def test_the_final_put_refused_and_a_cancel_that_fails() -> None:
    def rule(q: Request, r: Response) -> Response | None:
        if q.method == "PUT" and "/uploads/" in q.url:
            return Response(
                400, (), b'{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}'
            )
        if q.method == "DELETE":
            return Response(503)  # the cancel fails too: ignored
        return None

    with pytest.raises(UploadRejected) as rejected:
        push(rewriting(model(), rule), chunk_size=30)
    assert rejected.value.codes == ("DIGEST_INVALID",)
    with pytest.raises(UploadRejected):
        push(rewriting(model(), rule))


@pytest.mark.parametrize(
    ("status", "error"), [(413, TooLarge), (405, Unsupported), (500, ServerError)]
)
def test_failure_table_for_uploads(status: int, error: type[RegistryError]) -> None:
    net = rewriting(model(), on("POST", lambda r: Response(status)))
    with pytest.raises(error):
        push(net)


def test_a_mount_the_registry_fails_on() -> None:
    net = rewriting(model(), on("POST", lambda r: Response(500), times=1))
    with pytest.raises(ServerError, match="answered 500 and failed"):
        push(net, b"base layer", mount_from="team/base")


def test_a_mount_refused_falls_back_to_an_upload() -> None:
    m = model()
    net = rewriting(m, on("POST", lambda r: Response(400), times=1))  # Docker Hub's "from"
    digest = push(net, b"base layer", mount_from="team/base")
    assert m.repositories["team/app"].blobs[digest] == b"base layer"


def test_manifest_push_refusals() -> None:
    m = model()
    reg = Registry(HOST)
    raw = m.repositories["team/base"].manifests[m.repositories["team/base"].tags["1"]][1]
    net = rewriting(m, lambda q, r: Response(400) if q.method == "PUT" else None)
    with pytest.raises(ManifestRejected, match="status 400"):
        drive(reg.push_manifest("team/base", "v2", raw), net)
    with pytest.raises(ValueError, match="not a manifest"):
        reg.push_manifest("team/base", "v2", b"not json")
    denied = rewriting(m, lambda q, r: Response(401) if q.method == "PUT" else None)
    with pytest.raises(AuthenticationError):  # a 401 with no challenge to answer
        drive(Registry(HOST).push_manifest("team/base", "v2", raw), denied)


def test_fallback_index_that_cannot_be_read_is_replaced() -> None:
    m = ModelRegistry(
        HOST, quirks=__import__("regwire.testing", fromlist=["Quirks"]).Quirks(referrers_api=False)
    )
    m.push_image("team/base", "1")
    subject = m.repositories["team/base"].tags["1"]
    tag = "sha256-" + subject.split(":")[1]
    m.put_manifest("team/base", b"garbage", "application/vnd.oci.image.index.v1+json", tag)
    config = m.put_blob("team/base", b"{}")
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [],
            "subject": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": subject,
                "size": 1,
            },
        }
    ).encode()
    net = FakeNetwork(m.handle)
    reg = Registry(HOST, clock=net.clock)
    digest = drive(reg.push_manifest("team/base", "", raw), net)
    found = drive(reg.referrers("team/base", subject), net)
    assert [d.digest for d in found] == [digest]
    assert found[0].artifact_type == "application/vnd.oci.empty.v1+json"
    # A fallback tag the registry refuses to serve is an error, not "no referrers".
    refusing = rewriting(m, lambda q, r: Response(500) if tag in q.url else None)
    with pytest.raises(RegistryError):
        drive(Registry(HOST).referrers("team/base", subject), refusing)


def test_referrers_pages_and_refusals() -> None:
    m = model()
    base = m.repositories["team/base"].tags["1"]
    net = rewriting(m, lambda q, r: Response(403) if "/referrers/" in q.url else None)
    with pytest.raises(AccessDenied):
        drive(Registry(HOST).referrers("team/base", base), net)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
    odd = rewriting(
        m,
        lambda q, r: (
            Response(200, (), json.dumps(index).encode()) if "/referrers/" in q.url else None
        ),
    )
    assert drive(Registry(HOST).referrers("team/base", base), odd) == []


def test_delete_refusals() -> None:
    m = model()
    reg = Registry(HOST)
    for status, error in [(400, Unsupported), (405, Unsupported), (403, AccessDenied)]:
        net = rewriting(m, lambda q, r, s=status: Response(s) if q.method == "DELETE" else None)
        with pytest.raises(error):
            drive(reg.delete("team/base", "1"), net)
        with pytest.raises(error):
            drive(reg.delete_blob("team/base", sha256(b"base layer")), net)
    from regwire import BlobNotFound

    with pytest.raises(BlobNotFound):
        drive(reg.delete_blob("team/base", sha256(b"no such blob")), FakeNetwork(m.handle))


def test_catalog_refused() -> None:
    net = rewriting(model(), lambda q, r: Response(401) if "_catalog" in q.url else None)
    with pytest.raises(RegistryError):
        drive(Registry(HOST).catalog(), net)
    net = rewriting(
        model(),
        lambda q, r: Response(200, (), b'{"repositories": 3}') if "_catalog" in q.url else None,
    )
    with pytest.raises(ProtocolError, match="no list of repository names"):
        drive(Registry(HOST).catalog(), net)


def test_validation_is_eager() -> None:
    reg = Registry(HOST)
    with pytest.raises(ValueError, match="chunk_size"):
        reg.push_blob("team/app", b"x", chunk_size=0)
    with pytest.raises(TypeError, match="bytes"):
        reg.push_blob("team/app", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        reg.push_blob_from("team/app", chunk_size=0)
    with pytest.raises(ValueError, match="size"):
        reg.push_blob_from("team/app", size=-1)
    from regwire import InvalidReference

    with pytest.raises(InvalidReference):
        reg.push_blob("team/App", b"x")
    with pytest.raises(InvalidReference):
        reg.push_blob_from("team/app", digest="sha256:nothex", mount_from="x/y")


# -- sources --------------------------------------------------------------------------------------


def scripted(m: ModelRegistry, source: bytes, answer: Callable[[Any], Any] | None = None) -> Any:
    """A network whose source and body intents can be answered badly by ``answer``."""
    net = FakeNetwork(m.handle, source=source)

    def perform(intent: Any) -> Any:
        if answer is not None:
            result = answer(intent)
            if result is not None:
                return result
        return net(intent)

    return net, perform


def test_a_source_of_the_wrong_size() -> None:
    m = model()
    _, perform = scripted(m, b"12345")
    with pytest.raises(ProtocolError, match="held 5 bytes, not 9"):
        drive(Registry(HOST).push_blob_from("team/app", size=9), perform)
    assert not m.uploads


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_drivers_that_answer_source_intents_badly(chunk_size: int | None) -> None:
    bad = {ReadSource: "not a chunk"}
    _, perform = scripted(model(), b"abc", lambda i: bad.get(type(i)))
    with pytest.raises(TypeError, match="BodyChunk"):
        drive(Registry(HOST).push_blob_from("team/app", chunk_size=chunk_size), perform)


@pytest.mark.parametrize(
    "answer",
    [
        lambda i: ConnectionFailed("reset", "gone") if isinstance(i, SendBody) else None,
        lambda i: ConnectionFailed("reset", "gone") if isinstance(i, EndBody) else None,
        lambda i: "not a response" if isinstance(i, EndBody) else None,
        lambda i: (
            ConnectionFailed("reset", "gone") if isinstance(i, Request) and i.send_body else None
        ),
    ],
)
def test_a_streamed_body_that_breaks(answer: Callable[[Any], Any]) -> None:
    m = model()
    _, perform = scripted(m, b"abcdef", answer)
    with pytest.raises((NetworkError, TypeError)):
        drive(Registry(HOST).push_blob_from("team/app"), perform)


def test_a_streamed_patch_refused_or_overclaimed() -> None:
    m = model()
    refusing = rewriting(m, on("PATCH", lambda r: Response(403)))
    refusing.source = b"abc"
    with pytest.raises(AccessDenied):
        drive(Registry(HOST).push_blob_from("team/app"), refusing)
    claiming = rewriting(m, on("PATCH", lambda r: with_header(r, "Range", "0-999")))
    claiming.source = b"abc"
    with pytest.raises(ProtocolError, match="more than we sent"):
        drive(Registry(HOST).push_blob_from("team/app"), claiming)
    closing = rewriting(m, on("PUT", lambda r: Response(404)))
    closing.source = b"abc"
    with pytest.raises(RegistryError):
        drive(Registry(HOST).push_blob_from("team/app"), closing)


def test_source_chunks_resume_lose_data_or_stall() -> None:
    m = model()
    # A 416 whose status says part of the chunk arrived: the rest of the chunk goes again.
    state = {"n": 0}

    def partial(q: Request) -> Response:
        if q.method == "PATCH" and state["n"] == 0:
            state["n"] += 1
            upload = m.uploads[q.url.split("/uploads/")[1].split("?")[0]]
            upload.data.extend(q.body[:2])  # took two bytes, then "failed"
            return Response(416)
        return m.handle(q)

    net = FakeNetwork(partial, source=b"abcdefgh")
    digest = drive(Registry(HOST).push_blob_from("team/app", chunk_size=4), net)
    assert m.repositories["team/app"].blobs[digest] == b"abcdefgh"

    def lost(q: Request, r: Response) -> Response | None:
        if q.method == "PATCH" and not (q.header("Content-Range") or "").startswith("0-"):
            return Response(416)
        if q.method == "GET" and "/uploads/" in q.url:
            return Response(204, (("Range", "0-1"),))  # holds 2 bytes of the 4 sent before
        return None

    net = rewriting(model(), lost)
    net.source = b"abcdefgh"
    net.source_seekable = False
    with pytest.raises(UploadRejected, match="cannot be read again"):
        drive(Registry(HOST).push_blob_from("team/app", chunk_size=4), net)

    def stall(q: Request, r: Response) -> Response | None:
        if q.method == "PATCH":
            return Response(416)
        if q.method == "GET" and "/uploads/" in q.url:
            return Response(204, (("Range", "0-0"),))
        return None

    net = rewriting(model(), stall)
    net.source = b"abcdefgh"
    with pytest.raises(UploadRejected, match="does not advance"):
        drive(Registry(HOST).push_blob_from("team/app", chunk_size=4), net)
    net = rewriting(model(), lambda q, r: Response(500) if q.method == "PATCH" else None)
    net.source = b"abcdefgh"
    with pytest.raises(ServerError, match="answered 500"):
        drive(Registry(HOST).push_blob_from("team/app", chunk_size=4), net)
    assert BodyChunk  # the event a driver answers ReadSource with


@pytest.mark.parametrize("quirk", [{"max_chunk": 10}, {"no_chunked": True}])
@pytest.mark.parametrize("digest_given", [True, False])
def test_a_whole_source_refused_in_one_patch_goes_in_one_put(
    quirk: dict[str, Any], digest_given: bool
) -> None:
    """GHCR (416 for a large PATCH), Google Artifact Registry (no PATCH): a source that can
    be read again goes in one streamed PUT ?digest=, and the session remembers; one that
    cannot is an UploadRejected that says what to give instead."""
    from regwire.testing import Quirks

    data = b"x" * 100
    digest = sha256(data) if digest_given else None
    m = ModelRegistry(HOST, quirks=Quirks(**quirk))
    net = FakeNetwork(m.handle, source=data)
    registry = Registry(HOST, clock=net.clock)
    assert drive(registry.push_blob_from("team/app", digest=digest), net) == sha256(data)
    assert m.repositories["team/app"].blobs[sha256(data)] == data
    assert any(r.method == "PUT" and r.send_body for r in net.requests)
    before = len(net.requests)
    net.source, net.source_read = b"y" * 50, 0
    drive(registry.push_blob_from("team/app"), net)
    assert not any(r.method == "PATCH" for r in net.requests[before:])  # remembered
    piped = FakeNetwork(m.handle, source=data, source_seekable=False)
    with pytest.raises(UploadRejected, match="cannot be"):
        drive(Registry(HOST, clock=piped.clock).push_blob_from("team/app", digest=digest), piped)
    net = FakeNetwork(m.handle, source=data)
    chunked = Registry(HOST, clock=net.clock).push_blob_from("team/app", chunk_size=10)
    if "max_chunk" in quirk:
        assert drive(chunked, net) == sha256(data)


def test_a_registry_that_loses_a_chunk_gets_it_again_from_a_seekable_source() -> None:
    m = model()
    lost = {"done": False}

    def forgetful(q: Request) -> Response:
        response = m.handle(q)
        if (
            q.method == "PATCH"
            and not lost["done"]
            and (q.header("Content-Range") or "").startswith("8-")
        ):
            lost["done"] = True
            upload = m.uploads[q.url.split("/uploads/")[1].split("?")[0]]
            del upload.data[3:]  # it kept 3 bytes of everything it had, and says so
            return Response(416)
        return response

    net = FakeNetwork(forgetful, source=bytes(range(20)))
    digest = drive(Registry(HOST, clock=net.clock).push_blob_from("team/app", chunk_size=4), net)
    assert m.repositories["team/app"].blobs[digest] == bytes(range(20))
    assert digest == sha256(bytes(range(20))) and net.source_seeks == 1


@pytest.mark.parametrize("via_source", [False, True])
def test_a_reset_mid_chunk_is_resumed_from_the_registrys_range(via_source: bool) -> None:
    m = model()
    data = bytes(range(200))
    broken = {"n": 0}

    def flaky(q: Request) -> Response | ConnectionFailed:
        if (
            q.method == "PATCH"
            and broken["n"] == 0
            and (q.header("Content-Range") or "").startswith("50-")
        ):
            broken["n"] += 1
            upload = m.uploads[q.url.split("/uploads/")[1].split("?")[0]]
            upload.data.extend(q.body[:20])  # 20 bytes arrived before the reset
            return ConnectionFailed("reset", "connection reset by peer")
        return m.handle(q)

    def perform(intent: Any) -> Any:
        if isinstance(intent, Request):
            net.requests.append(intent)
            return flaky(replace(intent, send_body=False))
        return net(intent)

    net = FakeNetwork(m.handle, source=data)
    reg = Registry(HOST, clock=net.clock)
    op = (
        reg.push_blob_from("team/app", chunk_size=50)
        if via_source
        else reg.push_blob("team/app", data, chunk_size=50)
    )
    digest = drive(op, perform)
    assert m.repositories["team/app"].blobs[digest] == data
    resumed = [r for r in net.requests if r.method == "PATCH"]
    assert any((r.header("Content-Range") or "").startswith("70-") for r in resumed)


# -- downloads that resume -----------------------------------------------------------------------


def _breaking(m: ModelRegistry, after: int, times: int = 1) -> tuple[Any, list[Request]]:
    """A network whose streamed bodies break after ``after`` bytes, ``times`` times."""
    from regwire.sansio import ReadBody, Sleep

    state = {"left": times, "pending": b"", "sent": 0}
    requests: list[Request] = []

    def perform(intent: Any) -> Any:
        if isinstance(intent, Sleep):
            return None
        if isinstance(intent, ReadBody):
            if state["left"] and state["sent"] >= after:
                state["left"] -= 1
                return ConnectionFailed("reset", "peer gone")
            piece, state["pending"] = state["pending"][:7], state["pending"][7:]
            state["sent"] += len(piece)
            return BodyChunk(piece)
        requests.append(intent)
        response = m.handle(intent)
        if intent.stream:
            state["pending"], state["sent"] = response.body, 0
            return replace(response, body=b"", pending=True)
        return response

    return perform, requests


def test_a_broken_download_resumes_with_range() -> None:
    m = model()
    data = bytes(range(200))
    digest = m.put_blob("team/app", data)
    perform, requests = _breaking(m, after=70)
    got: list[bytes] = []
    assert drive(Registry(HOST).blob_into("team/app", digest, got.append), perform) == 200
    assert b"".join(got) == data  # every byte once: the 206 continued where it broke
    assert [r.header("Range") for r in requests] == [None, "bytes=70-"]


def test_a_range_answered_with_the_whole_blob_starts_over() -> None:
    from regwire.testing import Quirks

    m = ModelRegistry(HOST, quirks=Quirks(range_answers_200=True))
    data = bytes(range(200))
    digest = m.put_blob("team/app", data)
    perform, _ = _breaking(m, after=70)
    got: list[bytes] = []
    net = FakeNetwork(m.handle, on_restart=got.clear)

    def with_restart(intent: Any) -> Any:
        from regwire.sansio import RestartSink

        return net(intent) if isinstance(intent, RestartSink) else perform(intent)

    assert drive(Registry(HOST).blob_into("team/app", digest, got.append), with_restart) == 200
    assert b"".join(got) == data
    # a sink that cannot start over ends it, saying why
    perform2, _ = _breaking(m, after=70)
    no_restart = FakeNetwork(m.handle)  # on_restart None: the sink cannot start over

    def without_restart(intent: Any) -> Any:
        from regwire.sansio import RestartSink

        return no_restart(intent) if isinstance(intent, RestartSink) else perform2(intent)

    with pytest.raises(NetworkError, match="whole blob again"):
        drive(Registry(HOST).blob_into("team/app", digest, lambda _: None), without_restart)


def test_a_resume_answered_from_the_wrong_byte_is_refused() -> None:
    m = model()
    data = bytes(range(200))
    digest = m.put_blob("team/app", data)
    perform, _ = _breaking(m, after=70)

    def lying(intent: Any) -> Any:
        answer = perform(intent)
        if isinstance(answer, Response) and answer.status == 206:
            return with_header(answer, "Content-Range", "bytes 0-199/200")
        return answer

    with pytest.raises(ProtocolError, match="asked for bytes from 70"):
        drive(Registry(HOST).blob_into("team/app", digest, lambda _: None), lying)


def test_no_resume_without_accept_ranges() -> None:
    m = model()
    digest = m.put_blob("team/app", bytes(range(200)))
    perform, requests = _breaking(m, after=70)

    def plain(intent: Any) -> Any:
        answer = perform(intent)
        if isinstance(answer, Response):
            return with_header(answer, "Accept-Ranges", None)
        return answer

    with pytest.raises(NetworkError, match="peer gone"):
        drive(Registry(HOST).blob_into("team/app", digest, lambda _: None), plain)
    assert len(requests) == 1


@pytest.mark.parametrize("kept", [0.5, 1.0])
def test_a_reset_mid_stream_resumes_where_the_registry_says_it_stands(kept: float) -> None:
    """The PATCH breaks after the registry kept part (or all) of the body: GET the upload,
    read the source again from that offset (the bytes before hashed once more), send the rest
    with its Content-Range, and commit; the blob is whole and sent about once."""
    from regwire.sansio import ConnectionFailed, EndBody

    data = bytes(range(256)) * 40
    m = ModelRegistry(HOST)
    net = FakeNetwork(m.handle, source=data)
    broke: list[bool] = []

    def perform(intent: Any) -> Any:
        if isinstance(intent, EndBody) and not broke:
            broke.append(True)
            body = net._sending[intent.channel][1]
            del body[int(len(body) * kept) :]  # what reached the registry before the reset
            net(intent)
            return ConnectionFailed("reset", "injected reset")
        return net(intent)

    operation = Registry(HOST, clock=net.clock).push_blob_from("team/app", size=len(data))
    digest = drive(operation, perform)
    assert digest == sha256(data) and m.repositories["team/app"].blobs[digest] == data
    patches = [r for r in net.requests if r.method == "PATCH"]
    assert len(patches) == (1 if kept == 1.0 else 2)
    if kept < 1.0:
        assert patches[1].header("Content-Range") == f"{len(data) // 2}-{len(data) - 1}"
    assert any(r.method == "GET" and "/blobs/uploads/" in r.url for r in net.requests)


def test_a_reset_mid_stream_of_a_source_that_cannot_be_read_again_is_typed() -> None:
    from regwire.sansio import ConnectionFailed, SendBody

    m = ModelRegistry(HOST)
    net = FakeNetwork(m.handle, source=b"z" * 5000, source_seekable=False)

    def perform(intent: Any) -> Any:
        if isinstance(intent, SendBody):
            return ConnectionFailed("reset", "injected reset")
        return net(intent)

    with pytest.raises(UploadRejected, match="cannot be read again"):
        drive(Registry(HOST, clock=net.clock).push_blob_from("team/app", size=5000), perform)
    assert not m.repositories["team/app"].blobs if "team/app" in m.repositories else True


def test_a_source_not_its_digest_never_reaches_a_put_whole() -> None:
    """A registry without PATCH gets one ``PUT ?digest=``, which it commits as the last byte
    arrives: the last piece is held back until the bytes matched the digest asked for."""
    from regwire import DigestMismatch
    from regwire.testing import Quirks
    from tests.test_copy import sent_per_upload

    m = ModelRegistry(HOST, quirks=Quirks(no_chunked=True))
    real = b"real bytes, more than one piece " * 20_000  # 640 KB: three pieces
    net = FakeNetwork(m.handle, source=real)
    perform, sent = sent_per_upload(net)

    session = Registry(HOST)
    session.session.refuse_patch()  # as learnt from an earlier upload
    with pytest.raises(DigestMismatch):
        drive(session.push_blob_from("team/app", digest=sha256(b"other")), perform)
    assert sent and sent[-1] < len(real)
    assert "team/app" not in m.repositories or not m.repositories["team/app"].blobs
