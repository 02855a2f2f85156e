"""The model registry's write side: uploads, mounts, manifest pushes, deletes, referrers, catalog.

It keeps what was pushed and refuses what real registries refuse: a final PUT whose digest does
not match the bytes (``DIGEST_INVALID``), a manifest that names blobs or manifests the
repository does not hold (``MANIFEST_BLOB_UNKNOWN``), a ``Content-Range`` that does not follow
on (416), a chunk under the minimum, an invalid tag (``TAG_INVALID``), deletes when disabled
(405 ``UNSUPPORTED``). `Quirks` switches on the behaviours of particular registries, each
reported in another client's issue tracker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from ..sansio.digests import digest_of, schema1_payload
from ..sansio.events import Request, Response
from ..sansio.manifests import DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, INDEX_TYPES, OCI_INDEX

__all__ = ["Contents", "Quirks", "Store", "Upload", "handle_write"]

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")


@dataclass
class Upload:
    """An upload session: the repository, the bytes so far, and whether a chunk was short."""

    repository: str
    data: bytearray
    short_chunk: bool = False
    patched: bool = False  # a PATCH was taken (the partial_patch quirk cuts only the first)


@dataclass
class Quirks:
    """Behaviours of particular registries, off by default (distribution's behaviour)."""

    patch_201: bool = False  # ECR: PATCH answered 201 instead of 202
    manifest_put_no_location: bool = False  # ECR
    range_never_advances: bool = False  # ECR: every Range says 0-0
    max_chunk: int | None = None  # GHCR: chunks over 4 MiB refused with 416
    no_chunked: bool = False  # Google Artifact Registry: no PATCH at all
    monolithic_refused: bool = False  # Artifactory: a PUT with the bytes is refused
    # Artifactory (docker/buildx#196, moby/buildkit#1130): a PUT with the bytes is answered
    # 404 BLOB_UNKNOWN, the upload session kept; the bytes are taken by PATCH.
    put_blob_unknown: bool = False
    # Docker Hub (go-containerregistry#1679): the token realm answers 400 "invalid repository
    # name" to a request that asks to push one repository and pull another (a mount's source).
    realm_refuses_mount_source: bool = False
    # A registry (or a proxy before it) that keeps only the first ``partial_patch`` bytes of an
    # upload's first PATCH and answers 416, with the ``Range`` it holds if ``partial_patch_range``
    # (else the client asks, GET on the upload URL: distribution spec, "Pushing a blob in chunks").
    partial_patch: int | None = None
    partial_patch_range: bool = True
    mount_always_202: bool = False  # Harbor, ECR: a mount always starts an upload
    chunk_min_length: int | None = None  # OCI-Chunk-Min-Length, enforced
    upload_location: Literal["relative", "absolute", "other-path", "other-host"] = "relative"
    upload_host: str = "uploads.test"  # for "other-host"
    referrers_api: bool = True  # distribution 2.8 has none: 404
    range_answers_200: bool = False  # a CDN that ignores Range: the whole blob again
    deletes: bool = True
    # How a registry that does deletes answers a DELETE of a tag: OCI 1.1 registries delete the
    # tag; distribution 2.8 answers 400 DIGEST_INVALID; others 405 UNSUPPORTED.
    tag_delete: Literal["supported", "digest_invalid", "unsupported"] = "supported"
    # Docker Hub: manifest answers carry RateLimit-Limit/-Remaining ("100;w=21600"), the
    # remaining count going down with each manifest GET (a HEAD is not counted).
    ratelimit: bool = False
    schema1_refused: bool = False  # distribution 2.8: 500 for signed schema1, 400 unsigned


class Contents(Protocol):
    """What a repository holds, as the write side reads and changes it."""

    tags: dict[str, str]  # tag -> manifest digest
    manifests: dict[str, tuple[str, bytes]]  # digest -> (media type, bytes as pushed)
    blobs: dict[str, bytes]  # digest -> bytes


class Store(Protocol):
    """The registry state the write side reads and changes, and the checks it asks for.

    `ModelRegistry` is the one implementation: it dispatches a request here and imports this
    module; the contract is written on this side, so this module never imports the model.
    """

    @property
    def scheme(self) -> str:
        """``https`` or ``http``: how the registry is reached."""

    @property
    def host(self) -> str:
        """The registry's ``host[:port]``, for absolute upload URLs."""

    @property
    def quirks(self) -> Quirks:
        """The registry behaviours switched on."""

    @property
    def default_page(self) -> int | None:
        """The catalog's page size when the request names none (None: everything)."""

    @property
    def uploads(self) -> dict[str, Upload]:
        """The open upload sessions, by their id."""

    @property
    def repositories(self) -> Mapping[str, Contents]:
        """Every repository, by name."""

    def repository(self, name: str) -> Contents:
        """The contents of the repository ``name``, created empty if it is new."""

    def check_auth(
        self, request: Request, repository: str | None, action: str = "pull"
    ) -> Response | None:
        """None if ``request`` may ``action`` on ``repository``, else the 401 to answer."""

    def serial(self) -> int:
        """A number not handed out before."""


def _error(
    status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return Response(status, (("Content-Type", "application/json"), *headers), body)


def handle_write(model: Store, request: Request, path: str, query: str) -> Response | None:
    """The answer to a write or discovery request, or None for the read side to answer."""
    if path == "/v2/_catalog":
        return _catalog(model, request, parse_qs(query))
    if path.startswith("/artifacts-uploads/"):  # the "other-path" quirk's upload URLs
        return _uploads(model, request, None, path[len("/artifacts-uploads/") :], parse_qs(query))
    rest = path[len("/v2/") :]
    if "/blobs/uploads" in rest:
        repository, _, tail = rest.partition("/blobs/uploads")
        return _uploads(model, request, repository, tail.strip("/"), parse_qs(query))
    if "/referrers/" in rest and request.method == "GET":
        repository, _, digest = rest.rpartition("/referrers/")
        return _referrers(model, request, repository, digest, parse_qs(query))
    if request.method in ("PUT", "DELETE"):
        for kind in ("/manifests/", "/blobs/"):
            if kind in rest:
                repository, _, reference = rest.rpartition(kind)
                if request.method == "PUT" and kind == "/manifests/":
                    return _put_manifest(model, request, repository, reference)
                if request.method == "DELETE":
                    return _delete(model, request, repository, kind.strip("/"), reference)
    return None


# -- uploads ------------------------------------------------------------------------------------


def _upload_url(model: Store, repository: str, upload: str, size: int) -> str:
    quirks = model.quirks
    state = f"_state={upload}-{size}"
    if quirks.upload_location == "other-path":
        return f"/artifacts-uploads/{upload}?{state}"
    if quirks.upload_location == "other-host":
        return (
            f"{model.scheme}://{quirks.upload_host}/v2/{repository}/blobs/uploads/{upload}?{state}"
        )
    relative = f"/v2/{repository}/blobs/uploads/{upload}?{state}"
    if quirks.upload_location == "absolute":
        return f"{model.scheme}://{model.host}{relative}"
    return relative


def _range(model: Store, size: int) -> str:
    if model.quirks.range_never_advances or size == 0:
        return "0-0"
    return f"0-{size - 1}"


def _session_headers(model: Store, repository: str, upload: str) -> tuple[tuple[str, str], ...]:
    size = len(model.uploads[upload].data)
    headers = [
        ("Location", _upload_url(model, repository, upload, size)),
        ("Range", _range(model, size)),
        ("Docker-Upload-UUID", upload),
    ]
    if model.quirks.chunk_min_length:
        headers.append(("OCI-Chunk-Min-Length", str(model.quirks.chunk_min_length)))
    return tuple(headers)


def _uploads(
    model: Store,
    request: Request,
    repository: str | None,
    upload: str,
    query: dict[str, list[str]],
) -> Response:
    quirks = model.quirks
    if upload:
        session = model.uploads.get(upload)
        if session is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
        repository = session.repository
    assert repository is not None
    # An upload URL on another host is presigned (its name is the credential), as a storage
    # bucket's would be; the registry's own upload URLs want the registry's token.
    presigned = urlsplit(request.url).netloc == quirks.upload_host
    denied = None if presigned else model.check_auth(request, repository, "push")
    if denied is not None:
        return denied
    if not upload:  # POST: start (or mount, or monolithic)
        if request.method != "POST":
            return _error(405, "UNSUPPORTED", "method not allowed")
        mount, source = query.get("mount", [None])[0], query.get("from", [None])[0]
        if mount and source and not quirks.mount_always_202:
            denied = model.check_auth(request, source, "pull")
            blob = model.repositories.get(source)
            if denied is None and blob is not None and mount in blob.blobs:
                model.repository(repository).blobs[mount] = blob.blobs[mount]
                return Response(
                    201,
                    (
                        ("Location", f"/v2/{repository}/blobs/{mount}"),
                        ("Docker-Content-Digest", mount),
                    ),
                )
        digest = query.get("digest", [None])[0]
        if digest and not mount:
            return _commit(model, repository, bytearray(request.body), digest)
        upload = f"up{model.serial()}"
        model.uploads[upload] = Upload(repository, bytearray())
        return Response(202, _session_headers(model, repository, upload))
    session = model.uploads[upload]
    data = session.data
    if request.method == "GET":
        return Response(204, _session_headers(model, repository, upload))
    if request.method == "DELETE":
        del model.uploads[upload]
        return Response(204)
    if request.method == "PATCH":
        if quirks.no_chunked:
            return _error(405, "UNSUPPORTED", "chunked uploads are not supported")
        chunk = request.body
        content_range = request.header("Content-Range")
        if content_range is not None:
            start = content_range.strip().removeprefix("bytes=").partition("-")[0]
            if not start.isdigit() or int(start) != len(data):
                return _error(416, "RANGE_INVALID", "content range does not follow on")
        if quirks.max_chunk is not None and len(chunk) > quirks.max_chunk:
            return _error(416, "SIZE_INVALID", "chunk too large")
        cut = quirks.partial_patch
        if cut is not None and not session.patched and len(chunk) > cut:
            session.patched = True
            data.extend(chunk[:cut])
            headers = _session_headers(model, repository, upload)
            if not quirks.partial_patch_range:
                headers = tuple((k, v) for k, v in headers if k != "Range")
            return _error(416, "RANGE_INVALID", "the upload was cut short", headers)
        session.patched = True
        if session.short_chunk:  # only the last chunk may be under the minimum
            return _error(416, "SIZE_INVALID", "a chunk was under the minimum length")
        if quirks.chunk_min_length and len(chunk) < quirks.chunk_min_length:
            session.short_chunk = True
        data.extend(chunk)
        status = 201 if quirks.patch_201 else 202
        return Response(status, _session_headers(model, repository, upload))
    if request.method == "PUT":
        if request.body and quirks.monolithic_refused:
            return _error(400, "BLOB_UPLOAD_INVALID", "send the bytes by PATCH")
        if request.body and quirks.put_blob_unknown:
            return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        data.extend(request.body)
        digest = query.get("digest", [None])[0]
        if not digest:
            return _error(400, "DIGEST_INVALID", "digest missing")
        del model.uploads[upload]
        return _commit(model, repository, data, digest)
    return _error(405, "UNSUPPORTED", "method not allowed")


def _commit(model: Store, repository: str, data: bytearray, digest: str) -> Response:
    if digest_of(bytes(data)) != digest:
        return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
    model.repository(repository).blobs[digest] = bytes(data)
    return Response(
        201, (("Location", f"/v2/{repository}/blobs/{digest}"), ("Docker-Content-Digest", digest))
    )


# -- manifests ----------------------------------------------------------------------------------


def _put_manifest(model: Store, request: Request, repository: str, reference: str) -> Response:
    denied = model.check_auth(request, repository, "push")
    if denied is not None:
        return denied
    raw = request.body
    media_type = (request.header("Content-Type") or "").split(";")[0].strip()
    if media_type == DOCKER_SCHEMA1_SIGNED:
        if model.quirks.schema1_refused:
            error = {"code": "UNKNOWN", "message": "unknown error"}
            error["detail"] = "manifest schema v1 unsupported"
            body = json.dumps({"errors": [error]}).encode()
            return Response(500, (("Content-Type", "application/json"),), body)
        digest = digest_of(schema1_payload(raw, request.url))
    elif media_type == DOCKER_SCHEMA1 and model.quirks.schema1_refused:
        return _error(400, "MANIFEST_INVALID", "missing signature key")
    else:
        digest = digest_of(raw)
    if ":" in reference:
        if reference != digest:
            return _error(400, "DIGEST_INVALID", "manifest digest did not match")
    elif not _TAG.match(reference):
        return _error(400, "TAG_INVALID", "manifest tag did not match URI")
    try:
        document = json.loads(raw)
    except ValueError:
        return _error(400, "MANIFEST_INVALID", "manifest invalid")
    if not isinstance(document, dict):
        return _error(400, "MANIFEST_INVALID", "manifest invalid")
    if document.get("mediaType") and document["mediaType"] != media_type:
        return _error(400, "MANIFEST_INVALID", "mediaType does not match Content-Type")
    repo = model.repository(repository)
    if media_type in INDEX_TYPES:
        for child in document.get("manifests") or []:
            if child.get("digest") not in repo.manifests:
                return _error(
                    400, "MANIFEST_BLOB_UNKNOWN", f"unknown manifest {child.get('digest')}"
                )
    else:
        wanted = [document.get("config") or {}, *(document.get("layers") or [])]
        for blob in wanted:
            # A foreign layer (with URLs) lives elsewhere: distribution with
            # validation.manifests.urls allowing it, as Docker Hub was, does not ask for it.
            if blob and not blob.get("urls") and blob.get("digest") not in repo.blobs:
                return _error(400, "MANIFEST_BLOB_UNKNOWN", f"blob unknown {blob.get('digest')}")
    repo.manifests[digest] = (media_type, raw)
    if ":" not in reference:
        repo.tags[reference] = digest
    headers = [("Docker-Content-Digest", digest)]
    if not model.quirks.manifest_put_no_location:
        headers.append(("Location", f"/v2/{repository}/manifests/{digest}"))
    subject = document.get("subject")
    if isinstance(subject, dict) and model.quirks.referrers_api:
        headers.append(("OCI-Subject", str(subject.get("digest"))))
    return Response(201, tuple(headers))


def _delete(model: Store, request: Request, repository: str, kind: str, reference: str) -> Response:
    denied = model.check_auth(request, repository, "delete")
    if denied is not None:
        return denied
    if not model.quirks.deletes:
        return _error(405, "UNSUPPORTED", "The operation is unsupported.")
    repo = model.repositories.get(repository)
    if repo is None:
        return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
    if kind == "blobs":
        if repo.blobs.pop(reference, None) is None:
            return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        return Response(202)
    if ":" in reference:
        if repo.manifests.pop(reference, None) is None:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        repo.tags = {t: d for t, d in repo.tags.items() if d != reference}
        return Response(202)
    if model.quirks.tag_delete == "digest_invalid":
        return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
    if model.quirks.tag_delete == "unsupported":
        return _error(405, "UNSUPPORTED", "The operation is unsupported.")
    if repo.tags.pop(reference, None) is None:
        return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
    return Response(202)


# -- discovery ----------------------------------------------------------------------------------


def _referrers(
    model: Store,
    request: Request,
    repository: str,
    digest: str,
    query: dict[str, list[str]],
) -> Response:
    if not model.quirks.referrers_api:
        return _error(404, "NOT_FOUND", "page not found")
    denied = model.check_auth(request, repository, "pull")
    if denied is not None:
        return denied
    wanted = query.get("artifactType", [None])[0]
    entries = []
    repo = model.repositories.get(repository)
    for child_digest, (media_type, raw) in repo.manifests.items() if repo else ():
        try:
            document = json.loads(raw)
        except ValueError:
            continue
        subject = document.get("subject") if isinstance(document, dict) else None
        if not isinstance(subject, dict) or subject.get("digest") != digest:
            continue
        artifact_type = document.get("artifactType") or (document.get("config") or {}).get(
            "mediaType"
        )
        if wanted and artifact_type != wanted:
            continue
        entry = {"mediaType": media_type, "digest": child_digest, "size": len(raw)}
        if artifact_type:
            entry["artifactType"] = artifact_type
        if document.get("annotations"):
            entry["annotations"] = document["annotations"]
        entries.append(entry)
    headers = [("Content-Type", OCI_INDEX)]
    if wanted:
        headers.append(("OCI-Filters-Applied", "artifactType"))
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    return Response(200, tuple(headers), body.encode())


def _catalog(model: Store, request: Request, query: dict[str, list[str]]) -> Response:
    denied = model.check_auth(request, None)
    if denied is not None:
        return denied
    names = sorted(model.repositories)
    n_text = query.get("n", [None])[0]
    n = int(n_text) if n_text and n_text.isdigit() else model.default_page
    last = query.get("last", [None])[0]
    if last is not None:
        names = [name for name in names if name > last]
    headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
    if n is not None and len(names) > n:
        names = names[:n]
        link = "/v2/_catalog?" + urlencode({"n": n, "last": names[-1]})
        headers.append(("Link", f'<{link}>; rel="next"'))
    return Response(200, tuple(headers), json.dumps({"repositories": names}).encode())
