"""Every client writes over real loopback sockets: every source kind, every operation."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import regwire
from regwire import AccessDenied, Credentials, DigestMismatch
from regwire.sansio.manifests import OCI_MANIFEST
from regwire.testing import ModelRegistry, Quirks, sha256
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

USER = Credentials("alice", "s3cret-pw")


def _make(quirks: Quirks, scheme: str = "http") -> Any:
    def make(authority: str) -> ModelRegistry:
        m = ModelRegistry(
            authority,
            scheme=scheme,
            auth="bearer",
            realm_host=authority,
            users={"alice": "s3cret-pw"},
            quirks=quirks,
        )
        m.push_image("team/base", "1", {}, [b"base layer"])
        return m

    return make


KWARGS: dict[int, dict[str, Any]] = {}  # client settings by server, for `run`


@pytest.fixture(params=["plain", "tls", "artifactory"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    """The model on loopback: plain http, https from a trustme CA, or with Artifactory's
    refusal of monolithic PUTs (every upload then goes by PATCH)."""
    tls = None
    kwargs: dict[str, Any] = {"credentials": USER}
    if request.param == "tls":
        import ssl

        import trustme

        ca = trustme.CA()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(tls)
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        kwargs["ca_file"] = str(ca_file)
    quirks = Quirks(monolithic_refused=request.param == "artifactory")
    server, model = serve_model(_make(quirks, "https" if tls else "http"), tls=tls)
    if tls is None:
        kwargs["insecure_registries"] = [server.authority]
    KWARGS[id(server)] = kwargs
    with server:
        yield server, model


def client(server: LoopbackServer) -> regwire.Client:
    return regwire.Client(**KWARGS[id(server)])


def run(driver: str, server: LoopbackServer, scenario: Any) -> Any:
    return run_with(driver, scenario, **KWARGS[id(server)])


BIG = os.urandom(3 << 20)


KINDS = ["bytes", "BytesIO", "file", "iterable"]
PAIRS = [(d, k) for d in DRIVERS for k in KINDS] + [(d, "async-iterable") for d in DRIVERS[1:]]


@pytest.mark.parametrize(("driver", "kind"), PAIRS)
@pytest.mark.parametrize("data", [b"", b"x", BIG], ids=["0B", "1B", "3MiB"])
def test_push_blob_from_every_source_kind(
    served: tuple[LoopbackServer, ModelRegistry],
    tmp_path: Path,
    kind: str,
    data: bytes,
    driver: str,
) -> None:
    server, model = served
    a = server.authority
    source: Any
    if kind == "bytes":
        source = data
    elif kind == "BytesIO":
        source = io.BytesIO(data)
    elif kind == "file":
        path = tmp_path / "blob"
        path.write_bytes(data)
        source = open(path, "rb")  # noqa: SIM115 - closed below
    elif kind == "iterable":
        source = (data[i : i + 100_000] for i in range(0, len(data), 100_000))
    else:

        async def pieces() -> Any:
            for i in range(0, len(data), 100_000):
                yield data[i : i + 100_000]

        source = pieces()

    async def scenario(c: Any) -> tuple[str, bytes]:
        digest = await c.push_blob(f"{a}/team/app", source, digest=sha256(data))
        assert await c.blob_exists(f"{a}/team/app@{digest}")
        out = io.BytesIO()
        await c.blob(f"{a}/team/app@{digest}", out)
        return digest, out.getvalue()

    try:
        digest, back = run(driver, server, scenario)
    finally:
        if kind == "file":
            source.close()
    assert digest == sha256(data)
    assert model.repositories["team/app"].blobs[digest] == data
    assert back == data
    if kind != "bytes" and data:
        patch = next(r for r in model.requests if r.method == "PATCH")
        assert patch.body == data  # it went through one streamed PATCH


def test_a_source_that_is_not_its_digest_is_never_committed(
    served: tuple[LoopbackServer, ModelRegistry],
) -> None:
    server, model = served
    with client(server) as c, pytest.raises(DigestMismatch):
        c.push_blob(f"{server.authority}/team/app", io.BytesIO(b"real"), digest=sha256(b"fake"))
    assert "team/app" not in model.repositories or not model.repositories["team/app"].blobs
    assert not any(r.method == "PUT" for r in model.requests)
    with client(server) as c, pytest.raises(DigestMismatch):
        c.push_blob(f"{server.authority}/team/app", b"real", digest=sha256(b"fake"))


@pytest.mark.parametrize("driver", DRIVERS)
def test_manifests_tags_referrers_deletes_and_the_catalog(
    served: tuple[LoopbackServer, ModelRegistry], driver: str
) -> None:
    server, model = served
    a = server.authority

    async def scenario(c: Any) -> tuple[str, str, str]:
        config = await c.push_blob(f"{a}/team/app", b"{}")
        layer = await c.push_blob(f"{a}/team/app", b"base layer", mount_from="team/base")
        raw = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config,
                    "size": 2,
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer,
                        "size": 10,
                    }
                ],
            }
        ).encode()
        digest = await c.push_manifest(f"{a}/team/app:v1", raw)
        assert await c.tag(f"{a}/team/app:v1", "v2", "latest") == digest
        assert (await c.manifest(f"{a}/team/app:latest")).raw == raw
        sbom = json.loads(raw)
        sbom["subject"] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw)}
        sbom["artifactType"] = "application/spdx+json"
        sbom_digest = await c.push_manifest(f"{a}/team/app", json.dumps(sbom).encode())
        assert [d.digest for d in await c.referrers(f"{a}/team/app:v1")] == [sbom_digest]
        assert await c.referrers(f"{a}/team/app:v1", "application/other") == []
        assert set(await c.catalog(a)) == {"team/app", "team/base"}
        await c.delete(f"{a}/team/app:v2")
        await c.delete(f"{a}/team/app@{sbom_digest}")
        await c.delete_blob(f"{a}/team/app@{config}")
        return config, layer, digest

    config, layer, _ = run(driver, server, scenario)
    tags = model.repositories["team/app"].tags
    assert set(tags) == {"v1", "latest"}
    assert config not in model.repositories["team/app"].blobs
    mounted = [r for r in model.requests if r.method == "POST" and "mount=" in r.url]
    assert mounted and not any(r.method == "PATCH" and layer in r.url for r in model.requests)


def test_an_upload_location_elsewhere_gets_no_credentials() -> None:
    holder: dict[str, Any] = {}

    def make(authority: str) -> ModelRegistry:
        host = "localhost:" + authority.rsplit(":", 1)[1]
        quirks = Quirks(upload_location="other-host", upload_host=host)
        holder["host"] = host
        return _make(quirks)(authority)

    server, model = serve_model(make)
    with server:
        with regwire.Client(
            insecure_registries=[server.authority, holder["host"]], credentials=USER
        ) as c:
            digest = c.push_blob(f"{server.authority}/team/app", io.BytesIO(BIG))
        assert model.repositories["team/app"].blobs[digest] == BIG
    elsewhere = [r for r in model.requests if urlsplit(r.url).netloc == holder["host"]]
    assert elsewhere and all(r.header("Authorization") is None for r in elsewhere)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_pull_only_token_gets_access_denied(
    served: tuple[LoopbackServer, ModelRegistry], driver: str
) -> None:
    server, model = served
    model.pull_only.add("alice")

    async def scenario(c: Any) -> None:
        await c.push_blob(f"{server.authority}/team/app", io.BytesIO(b"x"))

    with pytest.raises(AccessDenied, match="no push right"):
        run(driver, server, scenario)


def test_a_file_is_read_again_where_the_registry_lost_bytes(tmp_path: Path) -> None:
    from regwire.sansio import Request, Response

    server, model = serve_model(_make(Quirks()))
    lost = {"done": False}
    handle = model.handle

    def forgetful(request: Request) -> Response:
        response = handle(request)
        if (
            request.method == "PATCH"
            and not lost["done"]
            and "200000-" in (request.header("Content-Range") or "")
        ):
            lost["done"] = True
            upload = model.uploads[request.url.split("/uploads/")[1].split("?")[0]]
            del upload.data[150_000:]
            return Response(416)
        return response

    server.handler = forgetful
    path = tmp_path / "blob"
    path.write_bytes(BIG[:500_000])
    with (
        server,
        regwire.Client(insecure_registries=[server.authority], credentials=USER) as c,
        open(path, "rb") as file,
    ):
        file.seek(0)
        registry = c._core.registry(server.authority)
        operation = registry.push_blob_from("team/app", chunk_size=100_000)
        digest = c.run(operation, registry, "team/app", file)
    assert digest == sha256(BIG[:500_000]) and lost["done"]
    assert model.repositories["team/app"].blobs[digest] == BIG[:500_000]


class ReusedBuffer:
    """A source whose ``read`` hands back one bytearray, refilled on every call (as a
    readinto-style wrapper might): what is sent must be what was hashed, piece by piece."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset, self.buffer = data, 0, bytearray()

    def read(self, size: int) -> bytearray:
        piece = self.data[self.offset : self.offset + size]
        self.offset += len(piece)
        self.buffer[:] = piece
        return self.buffer


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_source_that_reuses_its_buffer_is_sent_as_it_was_read(
    served: tuple[LoopbackServer, ModelRegistry], driver: str
) -> None:
    server, model = served

    async def scenario(c: Any) -> str:
        return str(await c.push_blob(f"{server.authority}/team/app", ReusedBuffer(BIG)))

    digest = run(driver, server, scenario)
    assert digest == sha256(BIG)
    assert model.repositories["team/app"].blobs[digest] == BIG
