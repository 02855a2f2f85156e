"""An in-memory registry that speaks the V2 API (and V1) the way real registries do.

`ModelRegistry` is a pure callable from `Request` to `Response`, so tests drive the core through
it without sockets (``drive(op, model.handle)``), and `regwire.testing.server` serves it over
loopback for the drivers. It keeps content as a registry does (manifests and blobs by digest,
tags pointing at manifests) and reproduces the behaviours clients trip over: token realms on
another host, Docker Hub's 401 for repositories that do not exist, ``n``/``last`` paging with
relative ``Link`` headers, blob redirects to a CDN host that rejects registry credentials, and the
V1 API with its endpoint tokens. It records every request it saw, so tests assert on traffic.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ..sansio.events import Request, Response
from ..sansio.manifests import (
    DOCKER_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
)
from .writes import Quirks, Upload, handle_write

__all__ = ["AuthMode", "ModelRegistry", "sha256"]

AuthMode = Literal["none", "basic", "bearer", "hub"]
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=3).encode()


def _error(
    status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
    return Response(status, (("Content-Type", "application/json"), *headers), body)


@dataclass
class _Repository:
    tags: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    v1_images: dict[str, bytes] = field(default_factory=dict)
    v1_tags: dict[str, str] = field(default_factory=dict)


def _split_scope(text: str) -> tuple[str, str, list[str]]:
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    return kind, name, [a for a in actions.split(",") if a]


@dataclass
class _Token:
    scopes: frozenset[tuple[str, str]]  # (repository, action)
    expires_at: float
    user: str | None


class ModelRegistry:
    """A registry in memory. Call it (`handle`) with a `Request`; it answers a `Response`.

    ``auth``: ``"none"``; ``"basic"`` (htpasswd-like); ``"bearer"`` (a token realm on
    ``realm_host``, anonymous tokens for public pulls unless ``anonymous=False``); ``"hub"``
    (bearer, and 401 rather than 404 for repositories that do not exist, as Docker Hub).
    ``cdn_host`` makes blob GETs redirect there (over ``cdn_scheme``, by default ``scheme``).
    ``v1`` serves the V1 API instead of V2, with its endpoints on ``v1_endpoints``.
    """

    def __init__(
        self,
        host: str = "registry.test",
        *,
        scheme: str = "https",
        auth: AuthMode = "none",
        users: dict[str, str] | None = None,
        anonymous: bool = True,
        realm_host: str = "auth.test",
        service: str | None = "registry.test",
        cdn_host: str | None = None,
        cdn_scheme: str | None = None,
        token_expires_in: int = 300,
        v1: bool = False,
        v1_endpoints: tuple[str, ...] = (),
        clock: Callable[[], float] = lambda: 0.0,
        default_page: int | None = None,
        identity_tokens: dict[str, str] | None = None,
        oauth: bool = True,
        quirks: Quirks | None = None,
    ) -> None:
        self.host, self.scheme, self.auth = host, scheme, auth
        self.users = dict(users or {})
        self.anonymous = anonymous
        self.realm_host, self.service = realm_host, service
        self.cdn_host, self.cdn_scheme = cdn_host, cdn_scheme or scheme
        self.token_expires_in = token_expires_in
        self.v1, self.v1_endpoints = v1, v1_endpoints or ((host,) if v1 else ())
        self.clock = clock
        self.default_page = default_page
        self.identity_tokens = dict(identity_tokens or {})
        self.oauth = oauth
        self.repositories: dict[str, _Repository] = {}
        self.private: set[str] = set()
        self.pull_only: set[str] = set()  # users whose tokens never grant push or delete
        self.quirks = quirks or Quirks()
        self.uploads: dict[str, Upload] = {}
        self.requests: list[Request] = []
        self._tokens: dict[str, _Token] = {}
        self._v1_tokens: dict[str, str] = {}
        self._counter = 0
        self.expired_tokens_seen = 0

    # -- content --------------------------------------------------------------------------

    def repository(self, name: str) -> _Repository:
        """The contents of the repository ``name``, created empty if it is new."""
        return self.repositories.setdefault(name, _Repository())

    def serial(self) -> int:
        """A number not handed out before (upload sessions and tokens are named with it)."""
        self._counter += 1
        return self._counter

    def put_blob(self, repository: str, data: bytes) -> str:
        """Hold ``data`` as a blob of ``repository``; returns its digest."""
        digest = sha256(data)
        self.repository(repository).blobs[digest] = data
        return digest

    def put_manifest(
        self,
        repository: str,
        raw: bytes,
        media_type: str,
        tag: str | None = None,
        digest: str | None = None,
    ) -> str:
        """Hold ``raw`` as a manifest of ``repository`` (tagged ``tag`` if given); returns its
        digest."""
        digest = digest or sha256(raw)
        repo = self.repository(repository)
        repo.manifests[digest] = (media_type, raw)
        if tag is not None:
            repo.tags[tag] = digest
        return digest

    def push_image(
        self,
        repository: str,
        tag: str | None,
        config: dict[str, Any] | None = None,
        layers: list[bytes] | None = None,
        *,
        oci: bool = True,
        architecture: str = "amd64",
        os: str = "linux",
        variant: str | None = None,
    ) -> str:
        """Push an image (OCI or Docker schema2) and return its manifest digest."""
        layers = [b"layer of " + repository.encode()] if layers is None else layers
        document: dict[str, Any] = {
            "architecture": architecture,
            "os": os,
            "created": "2024-05-01T12:00:00.123456789Z",
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(x) for x in layers]},
            "history": [{"created_by": "model"}],
        }
        if variant:
            document["variant"] = variant
        document.update(config or {})
        raw_config = _json(document)
        config_digest = self.put_blob(repository, raw_config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_SCHEMA2,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(raw_config),
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "digest": self.put_blob(repository, layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
        }
        return self.put_manifest(
            repository, _json(manifest), OCI_MANIFEST if oci else DOCKER_SCHEMA2, tag
        )

    def push_index(
        self,
        repository: str,
        tag: str | None,
        platforms: list[tuple[str, str, str | None]],
        *,
        oci: bool = True,
        attestations: bool = False,
    ) -> str:
        """Push one image per (os, architecture, variant) and an index over them."""
        entries = []
        for os, arch, variant in platforms:
            label = f"{os}/{arch}" + (f"/{variant}" if variant else "")
            digest = self.push_image(
                repository,
                None,
                {"config": {"Labels": {"platform": label}}},
                [f"{repository} {label}".encode()],
                oci=oci,
                architecture=arch,
                os=os,
                variant=variant,
            )
            media_type, raw = self.repositories[repository].manifests[digest]
            platform: dict[str, str] = {"architecture": arch, "os": os}
            if variant:
                platform["variant"] = variant
            entries.append(
                {"mediaType": media_type, "digest": digest, "size": len(raw), "platform": platform}
            )
        if attestations:
            digest = self.push_image(repository, None, {}, [b"attestation"], oci=True)
            entries.insert(
                0,
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(self.repositories[repository].manifests[digest][1]),
                    "platform": {"architecture": "unknown", "os": "unknown"},
                },
            )
        index_type = OCI_INDEX if oci else DOCKER_LIST
        index = {"schemaVersion": 2, "mediaType": index_type, "manifests": entries}
        return self.put_manifest(repository, _json(index), index_type, tag)

    def push_schema1(
        self, repository: str, tag: str, config: dict[str, Any], *, signed: bool = False
    ) -> str:
        """Push a Docker schema1 manifest (signed as registries sign them, if asked)."""
        layer = self.put_blob(repository, b"schema1 layer")
        document = {
            "schemaVersion": 1,
            "name": repository,
            "tag": tag,
            "architecture": config.get("architecture", "amd64"),
            "fsLayers": [{"blobSum": layer}],
            "history": [{"v1Compatibility": json.dumps(config)}],
        }
        payload = _json(document)
        if not signed:
            return self.put_manifest(repository, payload, DOCKER_SCHEMA1, tag)
        # A JWS "pretty" signature: the payload minus its closing brace, then the signatures.
        length = payload.rindex(b"\n}")
        tail = payload[length:]
        protected = (
            base64.urlsafe_b64encode(
                json.dumps(
                    {
                        "formatLength": length,
                        "formatTail": base64.urlsafe_b64encode(tail).decode().rstrip("="),
                        "time": "2024-01-01T00:00:00Z",
                    }
                ).encode()
            )
            .decode()
            .rstrip("=")
        )
        signature = {"header": {"alg": "ES256"}, "signature": "c2ln", "protected": protected}
        signed_raw = (
            payload[:length] + b',\n   "signatures": ' + json.dumps([signature]).encode() + tail
        )
        return self.put_manifest(
            repository, signed_raw, DOCKER_SCHEMA1_SIGNED, tag, digest=sha256(payload)
        )

    def push_v1_image(
        self, repository: str, tag: str, image_id: str, config: dict[str, Any]
    ) -> None:
        """Push an image through the V1 API's model (for the seed's V1 paths)."""
        repo = self.repository(repository)
        repo.v1_images[image_id] = json.dumps({"id": image_id, **config}).encode()
        repo.v1_tags[tag] = image_id

    def tag_list(self, repository: str) -> list[str]:
        """The repository's tags in the order the model serves them (lexical, as distribution)."""
        return sorted(self.repositories[repository].tags)

    # -- HTTP -----------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        return self.handle(request)

    def handle(self, request: Request) -> Response:
        """Answer ``request`` as the registry would (and record it in ``requests``)."""
        self.requests.append(request)
        parts = urlsplit(request.url)
        netloc = parts.netloc
        if netloc == self.realm_host and parts.path == "/token":
            return self._token(request, parts.query)
        if self.cdn_host and netloc == self.cdn_host:
            return self._cdn(request, parts.path, parts.query)
        if self.v1 and netloc in self.v1_endpoints and parts.path.startswith("/v1/"):
            return self._v1(request, unquote(parts.path))
        if netloc == self.quirks.upload_host and "/blobs/uploads/" in parts.path:
            return handle_write(self, request, unquote(parts.path), parts.query) or Response(404)
        if netloc != self.host:
            return Response(502, body=b"no such host in the model")
        if parts.scheme != self.scheme:
            return Response(400, body=b"wrong scheme")
        path = unquote(parts.path)
        if self.v1:
            if path.startswith("/v1/"):
                return self._v1(request, path)
            return Response(404, body=b"404 page not found")
        if path in ("/v2/", "/v2"):
            denied = self.check_auth(request, None)
            return denied or Response(
                200, (("Docker-Distribution-API-Version", "registry/2.0"),), b"{}"
            )
        written = handle_write(self, request, path, parts.query)
        if written is not None:
            return written
        return self._v2(request, path, parse_qs(parts.query))

    def _challenge(self, scope: str | None, error: str | None = None) -> tuple[str, str]:
        if self.auth == "basic":
            return ("WWW-Authenticate", 'Basic realm="model"')
        params = [f'realm="{self.scheme}://{self.realm_host}/token"']
        if self.service:
            params.append(f'service="{self.service}"')
        if scope:
            params.append(f'scope="{scope}"')
        if error:
            params.append(f'error="{error}"')
        return ("WWW-Authenticate", "Bearer " + ",".join(params))

    def check_auth(
        self, request: Request, repository: str | None, action: str = "pull"
    ) -> Response | None:
        """None if the request may proceed, else the 401 a real registry would send."""
        if self.auth == "none":
            return None
        wanted = "push,pull" if action == "push" else action
        scope = f"repository:{repository}:{wanted}" if repository else None
        header = request.header("Authorization") or ""
        if self.auth == "basic":
            if header.startswith("Basic ") and self._basic_user(header) is not None:
                return None
            return _error(401, "UNAUTHORIZED", "authentication required", (self._challenge(None),))
        if header.startswith("Bearer "):
            token = self._tokens.get(header[len("Bearer ") :])
            if token is not None and self.clock() >= token.expires_at:
                self.expired_tokens_seen += 1
            if token is not None and self.clock() < token.expires_at:
                if repository is None or (repository, action) in token.scopes:
                    return None
                return _error(
                    401,
                    "UNAUTHORIZED",
                    "insufficient scope",
                    (self._challenge(scope, "insufficient_scope"),),
                )
        return _error(401, "UNAUTHORIZED", "authentication required", (self._challenge(scope),))

    def _basic_user(self, header: str) -> str | None:
        try:
            user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if self.users.get(user) == password and user else None

    def _token(self, request: Request, query: str) -> Response:
        params = parse_qs(query)
        user: str | None = None
        if request.method == "POST":
            if not self.oauth:
                return Response(405)
            form = parse_qs(request.body.decode())
            refresh = form.get("refresh_token", [""])[0]
            user = self.identity_tokens.get(refresh)
            if user is None:
                return _error(401, "UNAUTHORIZED", "bad refresh token")
            scopes = form.get("scope", [""])[0].split()
            service = form.get("service", [None])[0]
        else:
            header = request.header("Authorization") or ""
            if header:
                user = self._basic_user(header) if header.startswith("Basic ") else None
                if user is None:
                    return _error(401, "UNAUTHORIZED", "bad credentials")
            elif not self.anonymous:
                return _error(401, "UNAUTHORIZED", "credentials required")
            scopes = params.get("scope", [])
            service = params.get("service", [None])[0]
        if self.service and service != self.service:
            return _error(400, "INVALID", "wrong service")
        asked = [_split_scope(text) for text in scopes]
        if self.quirks.realm_refuses_mount_source and (
            any("push" in actions for _, _, actions in asked)
            and any("push" not in actions for kind, _, actions in asked if kind == "repository")
        ):
            body = json.dumps({"details": "invalid repository name"}).encode()
            return Response(400, (("Content-Type", "application/json"),), body)
        granted = frozenset(
            (name, action)
            for kind, name, actions in asked
            if kind == "repository"
            for action in actions
            if self._may(user, name, action)
        )
        value = f"tok{self.serial()}"
        self._tokens[value] = _Token(granted, self.clock() + self.token_expires_in, user)
        return Response(
            200,
            (("Content-Type", "application/json"),),
            json.dumps(
                {"token": value, "access_token": value, "expires_in": self.token_expires_in}
            ).encode(),
        )

    def _may(self, user: str | None, repository: str, action: str) -> bool:
        """What a token server grants: pulls of public repositories to anyone, the rest to
        a signed-in user (all of them, unless the user is in ``pull_only``)."""
        if action == "pull":
            return user is not None or repository not in self.private
        return user is not None and user not in self.pull_only

    def _cdn(self, request: Request, path: str, query: str) -> Response:
        if request.header("Authorization"):
            return Response(400, body=b"<Error>Only one auth mechanism allowed</Error>")
        repository, _, digest = path.strip("/").rpartition("/")
        if "sig=ok" not in query:
            return Response(403, body=b"<Error>AccessDenied</Error>")
        blob = self.repositories.get(repository, _Repository()).blobs.get(digest)
        if blob is None:
            return Response(404)
        return self._blob_answer(request, blob, ())

    def _blob_answer(
        self, request: Request, blob: bytes, extra: tuple[tuple[str, str], ...]
    ) -> Response:
        """A blob, or the part a ``Range: bytes=N-`` asks for (206), as registries serve it."""
        headers = (("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"), *extra)
        asked = (request.header("Range") or "").strip()
        if (
            asked.startswith("bytes=")
            and request.method == "GET"
            and not self.quirks.range_answers_200
        ):
            start = asked[len("bytes=") :].partition("-")[0]
            if start.isdigit() and int(start) < len(blob):
                first = int(start)
                content_range = f"bytes {first}-{len(blob) - 1}/{len(blob)}"
                return Response(206, (*headers, ("Content-Range", content_range)), blob[first:])
        return Response(200, headers, b"" if request.method == "HEAD" else blob)

    def _v2(self, request: Request, path: str, query: dict[str, list[str]]) -> Response:
        head, sep, rest = path[len("/v2/") :].rpartition("/manifests/")
        kind = "manifests"
        if not sep:
            head, sep, rest = path[len("/v2/") :].rpartition("/blobs/")
            kind = "blobs"
        if not sep and path.endswith("/tags/list"):
            head, kind, rest = path[len("/v2/") : -len("/tags/list")], "tags", ""
        elif not sep:
            return _error(404, "NOT_FOUND", "no route")
        repository = head
        denied = self.check_auth(request, repository)
        if denied is not None:
            return denied
        repo = self.repositories.get(repository)
        if repo is None:
            if self.auth == "hub":
                return _error(
                    401,
                    "UNAUTHORIZED",
                    "authentication required",
                    (self._challenge(f"repository:{repository}:pull"),),
                )
            return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
        if kind == "tags":
            return self._tags(repository, repo, query)
        if kind == "blobs":
            blob = repo.blobs.get(rest)
            if blob is None:
                return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            if self.cdn_host:
                return Response(
                    307,
                    (
                        (
                            "Location",
                            f"{self.cdn_scheme}://{self.cdn_host}/{repository}/{rest}?sig=ok",
                        ),
                    ),
                )
            return self._blob_answer(request, blob, (("Docker-Content-Digest", rest),))
        digest = repo.tags.get(rest, rest)
        found = repo.manifests.get(digest)
        if found is None:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        media_type, raw = found
        headers: tuple[tuple[str, str], ...] = (
            ("Content-Type", media_type),
            ("Docker-Content-Digest", digest),
            ("Content-Length", str(len(raw))),
        )
        if self.quirks.ratelimit:
            headers += self._ratelimit_headers()
        return Response(200, headers, b"" if request.method == "HEAD" else raw)

    def _ratelimit_headers(self) -> tuple[tuple[str, str], ...]:
        """Docker Hub's rate-limit headers: 100 pulls per 6 hours, each manifest GET one."""
        pulls = sum(1 for r in self.requests if r.method == "GET" and "/manifests/" in r.url)
        return (
            ("RateLimit-Limit", "100;w=21600"),
            ("RateLimit-Remaining", f"{max(0, 100 - pulls)};w=21600"),
            ("Docker-RateLimit-Source", "127.0.0.1"),
        )

    def _tags(self, repository: str, repo: _Repository, query: dict[str, list[str]]) -> Response:
        tags = sorted(repo.tags)
        n_text = query.get("n", [None])[0]
        n = int(n_text) if n_text and n_text.isdigit() else self.default_page
        last = query.get("last", [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
        if n is not None and len(tags) > n:
            tags = tags[:n]
            link = f"/v2/{repository}/tags/list?" + urlencode({"n": n, "last": tags[-1]})
            headers.append(("Link", f'<{link}>; rel="next"'))
        return Response(
            200, tuple(headers), json.dumps({"name": repository, "tags": tags}).encode()
        )

    # -- V1 -------------------------------------------------------------------------------

    def _v1(self, request: Request, path: str) -> Response:
        if path.startswith("/v1/repositories/") and path.endswith("/images"):
            name = path[len("/v1/repositories/") : -len("/images")]
            if name not in self.repositories:
                return Response(404)
            token = f'signature=v1tok{self.serial()},repository="{name}",access=read'
            self._v1_tokens[token] = name
            return Response(
                200,
                (("X-Docker-Token", token), ("X-Docker-Endpoints", ", ".join(self.v1_endpoints))),
                b"[]",
            )
        header = request.header("Authorization") or ""
        token = header[len("Token ") :] if header.startswith("Token ") else ""
        if token not in self._v1_tokens:
            return Response(401, body=b'"token required"')
        name = self._v1_tokens[token]
        repo = self.repositories[name]
        if path == f"/v1/repositories/{name}/tags":
            return Response(
                200, (("Content-Type", "application/json"),), json.dumps(repo.v1_tags).encode()
            )
        if path.startswith(f"/v1/repositories/{name}/tags/"):
            tag = path.rsplit("/", 1)[1]
            if tag not in repo.v1_tags:
                return Response(404, body=b'"Tag not found"')
            return Response(200, (), json.dumps(repo.v1_tags[tag]).encode())
        if path.startswith("/v1/images/") and path.endswith("/json"):
            image_id = path[len("/v1/images/") : -len("/json")]
            if image_id not in repo.v1_images:
                return Response(404, body=b'"Image not found"')
            return Response(200, (("Content-Type", "application/json"),), repo.v1_images[image_id])
        return Response(404)
