"""Hostile registries for writes: uploads that break, sessions that vanish, answers that lie,
upload Locations that lead elsewhere, and copies between two accounts.

Each is a `Scenario` (see `tests.harness.scenarios`) whose call pushes an image (a layer
from a file, bytes or an iterator, a config, a manifest tagged ``new``) or copies one to a
second registry. Whatever the outcome, ``new`` is tagged only when everything it names is
there, and no credential reaches a server it does not belong to.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from regwire.sansio.errors import (
    AccessDenied,
    DigestMismatch,
    ManifestRejected,
    NetworkError,
    ProtocolError,
    ServerError,
    TooLarge,
    UploadRejected,
)
from regwire.sansio.events import Request, Response
from regwire.testing.hostile import HostileServer
from regwire.testing.model import ModelRegistry, sha256
from regwire.testing.writes import Quirks
from tests.harness.scenarios import REPO, SECRET, SECRET2, USER, USER2, Call, Scenario, Wrap

__all__ = ["WRITE_SCENARIOS"]

BIG = bytes(range(256)) * 2048  # 512 KiB: a body that is still streaming when it breaks
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {}}).encode()


def _pushes(kind: str) -> Call:
    async def call(client: Any, a: str, _: str | None) -> str:
        repository = f"{a}/{REPO}"
        source: Any
        if kind == "file":
            source = io.BytesIO(BIG)
        elif kind == "iterator":
            source = iter([BIG[i : i + 65536] for i in range(0, len(BIG), 65536)])
        else:
            source = BIG
        layer = await client.push_blob(repository, source)
        if layer != sha256(BIG):
            raise ProtocolError("scenario", "the digest pushed is not the layer's")
        config = await client.push_blob(repository, CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": len(CONFIG),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer,
                    "size": len(BIG),
                }
            ],
        }
        digest: str = await client.push_manifest(f"{repository}:new", json.dumps(manifest).encode())
        return digest

    return call


async def _copies(client: Any, a: str, second: str | None) -> str:
    digest: str = await client.copy(f"{a}/{REPO}:1", f"{second}/mirror/app:1")
    return digest


def _whole_or_untagged(model: ModelRegistry, other: ModelRegistry | None) -> None:
    """``new`` (pushed) or ``mirror/app:1`` (copied) names only content that is all there."""
    for registry, repository, tag in ((model, REPO, "new"), (other, "mirror/app", "1")):
        held = registry.repositories.get(repository) if registry is not None else None
        if held is None or tag not in held.tags:
            continue
        _, raw = held.manifests[held.tags[tag]]
        document = json.loads(raw)
        for blob in [document["config"], *document["layers"]]:
            assert blob["digest"] in held.blobs, f"{tag} names a blob that is not there"
        for digest, data in held.blobs.items():
            assert sha256(data) == digest, "wrong bytes under a digest"


def _tagged(model: ModelRegistry, other: ModelRegistry | None) -> None:
    _whole_or_untagged(model, other)
    assert "new" in model.repositories[REPO].tags, "the push succeeded but nothing is tagged"


def _each_account_at_home(model: ModelRegistry, other: ModelRegistry | None) -> None:
    """On the wire: the registry's password and tokens only to it, the mirror's only to it."""
    _whole_or_untagged(model, other)
    assert other is not None
    for registry, user, tokens in ((model, USER, model), (other, USER2, other)):
        for request in registry.requests:
            header = request.header("Authorization") or ""
            if header.startswith("Basic "):
                named = base64.b64decode(header[6:]).decode(errors="replace")
                assert named.startswith(f"{user}:"), f"another account's password at {user}'s"
            elif header.startswith("Bearer "):
                assert header[7:] in tokens._tokens, "a token of the other registry was sent"
    seen = "".join(str(r.headers) for r in (*model.requests, *other.requests))
    assert SECRET not in seen and SECRET2 not in seen


def _rewrite(
    method: str,
    path: str,
    answer: Callable[[Request, Response], Response],
    times: int | None = None,
) -> Wrap:
    """Rewrite the answers to ``method`` requests whose URL contains ``path`` (the first
    ``times`` of them, or all)."""
    left = [times]

    def wrap(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            response = handler(request)
            if request.method == method and path in request.url and left[0] != 0:
                if left[0] is not None:
                    left[0] -= 1
                return answer(request, response)
            return response

        return serve

    return wrap


def _error(status: int, code: str) -> Callable[[Request, Response], Response]:
    body = json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode()
    return lambda request, response: Response(status, (("Content-Type", "application/json"),), body)


def _blob_put_only(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """The final PUT of a blob upload (not a manifest's) answered 500, for ever."""

    def serve(request: Request) -> Response:
        if request.method == "PUT" and "/blobs/uploads/" in request.url:
            return Response(500, (), b"<html>internal error</html>")
        return handler(request)

    return serve


def _other_digest(request: Request, response: Response) -> Response:
    if response.status != 201:
        return response
    headers = tuple(
        (k, "sha256:" + "0" * 64 if k.lower() == "docker-content-digest" else v)
        for k, v in response.headers
    )
    return replace(response, headers=headers)


def _presigned_on(model: ModelRegistry, other: ModelRegistry | None, second: str | None) -> None:
    model.quirks = Quirks(upload_location="other-host", upload_host=second or "")


def _pull_only(model: ModelRegistry, other: ModelRegistry | None, second: str | None) -> None:
    model.pull_only.add(USER)


_HTTP_UPLOADS: dict[str, str] = {}


def _downgrading(model: ModelRegistry, other: ModelRegistry | None, second: str | None) -> None:
    _HTTP_UPLOADS["host"] = second or ""


def _location_on_http(request: Request, response: Response) -> Response:
    """An upload session whose Location leaves https for plain http on another host."""
    if response.status != 202:
        return response
    location = f"http://{_HTTP_UPLOADS['host']}/v2/{REPO}/blobs/uploads/stolen"
    headers = tuple((k, location if k.lower() == "location" else v) for k, v in response.headers)
    return replace(response, headers=headers)


def _second_saw_no_credentials(server: HostileServer, second: HostileServer | None) -> None:
    assert second is not None and second.requests, "the upload did not go to the other host"
    for request in second.requests:
        assert request.header("Authorization") is None, "credentials sent with the upload"


def _second_saw_nothing(server: HostileServer, second: HostileServer | None) -> None:
    assert second is not None
    assert not second.requests, "bytes were sent to an upload Location on plain http"


WRITE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "upload: reset mid-PATCH (a file: resumed)",
        None,
        (("reset-upload", "/blobs/uploads/", 1),),
        call=_pushes("file"),
        verify=_tagged,
    ),
    Scenario(
        "upload: reset mid-PUT (bytes: sent again)",
        None,
        (("reset-upload", "/blobs/uploads/", 1),),
        call=_pushes("bytes"),
        verify=_tagged,
    ),
    Scenario(
        "upload: reset mid-PATCH (an iterator: typed error)",
        UploadRejected,
        (("reset-upload", "/blobs/uploads/", 1),),
        call=_pushes("iterator"),
        verify=_whole_or_untagged,
    ),
    Scenario(
        "upload: 416 for a whole-blob PATCH (one PUT instead)",
        None,
        wrap=_rewrite("PATCH", "/blobs/uploads/", _error(416, "BLOB_UPLOAD_INVALID"), 1),
        call=_pushes("file"),
        verify=_tagged,
    ),
    Scenario(
        "upload: session vanished (404 BLOB_UPLOAD_UNKNOWN: started again)",
        None,
        wrap=_rewrite("PATCH", "/blobs/uploads/", _error(404, "BLOB_UPLOAD_UNKNOWN"), 1),
        call=_pushes("file"),
        verify=_tagged,
    ),
    Scenario(
        "upload: final PUT answered 500 for ever",
        ServerError,
        wrap=_blob_put_only,
        call=_pushes("file"),
        verify=_whole_or_untagged,
    ),
    Scenario(
        "upload: 201 naming another digest",
        DigestMismatch,
        wrap=_rewrite("PUT", "/blobs/uploads/", _other_digest),
        call=_pushes("file"),
        verify=_whole_or_untagged,
    ),
    Scenario(
        "upload: Range that never advances (ECR)",
        None,
        quirks={"range_never_advances": True},
        call=_pushes("file"),
        verify=_tagged,
    ),
    Scenario(
        "upload: stall mid-body",
        NetworkError,
        (("stall-upload", "/blobs/uploads/", None),),
        call=_pushes("file"),
        timeout=0.5,
        bound=3.0,
        verify=_whole_or_untagged,
    ),
    Scenario(
        "manifest: 413",
        TooLarge,
        wrap=_rewrite("PUT", "/manifests/", lambda q, r: Response(413, (), b"too large")),
        call=_pushes("bytes"),
        verify=_whole_or_untagged,
    ),
    Scenario(
        "manifest: MANIFEST_BLOB_UNKNOWN",
        ManifestRejected,
        wrap=_rewrite("PUT", "/manifests/", _error(400, "MANIFEST_BLOB_UNKNOWN")),
        call=_pushes("bytes"),
        verify=_whole_or_untagged,
    ),
    Scenario(
        "push with a pull-only token",
        AccessDenied,
        setup=_pull_only,
        call=_pushes("bytes"),
        verify=_whole_or_untagged,
    ),
    Scenario(
        "upload Location on another host: no credentials there",
        None,
        elsewhere=True,
        setup=_presigned_on,
        call=_pushes("file"),
        check=_second_saw_no_credentials,
        verify=_tagged,
    ),
    Scenario(
        "upload Location leaving https for http: refused",
        ProtocolError,
        tls=True,
        cdn=True,
        setup=_downgrading,
        wrap=_rewrite("POST", "/blobs/uploads/", _location_on_http),
        call=_pushes("file"),
        check=_second_saw_nothing,
        verify=_whole_or_untagged,
    ),
    Scenario(
        "copy between two accounts: each password and token at home",
        None,
        accounts=True,
        call=_copies,
        verify=_each_account_at_home,
    ),
    Scenario(
        "copy: the source resets mid-blob (resumed with Range)",
        None,
        (("reset-body", "/blobs/sha256:", 1),),
        accounts=True,
        call=_copies,
        verify=_each_account_at_home,
    ),
)
