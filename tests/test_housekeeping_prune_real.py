"""prune (issue 31) against the real docker-registry (distribution 2.8, deletes enabled, no
referrers API: regwire keeps the fallback tag) on a repository of 30 tags built with regwire
itself: images, a manifest under two tags, an index whose children are tagged too, an old index,
cosign ``.sig`` tags, SBOM referrers, a manifest pushed by digest alone. ``prune --keep 5``
leaves exactly what the plan says, checked from outside with plain HTTP by walking every kept
tag's closure; every deleted digest answers 404; ``--dry-run`` sends no write (access log)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from regwire import Client
from regwire.sansio.digests import digest_of
from regwire.sansio.manifests import OCI_INDEX, OCI_MANIFEST
from regwire.sansio.retention import RetentionPlan
from tests.harness.distribution import RealRegistry
from tests.harness.drivers import DRIVERS, run_with

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAY0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
WRITES = (b'"PUT ', b'"DELETE ', b'"POST ', b'"PATCH ')


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRegistry]:
    real = RealRegistry(tmp_path_factory.mktemp("prune") / "server", "none", True, deletes=True)
    try:
        yield real
    finally:
        real.close()


class Builder:
    """Pushes with regwire's blocking client; remembers each manifest's descriptor."""

    def __init__(self, client: Client, base: str) -> None:
        self.client, self.base = client, base
        self.descriptors: dict[str, dict[str, Any]] = {}

    def manifest(self, document: dict[str, Any], tag: str | None) -> str:
        raw = _dumps(document)
        media_type = document["mediaType"]
        ref = f"{self.base}:{tag}" if tag else self.base
        digest = self.client.push_manifest(ref, raw, media_type)
        self.descriptors[digest] = {"mediaType": media_type, "digest": digest, "size": len(raw)}
        return digest

    def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = self.client.push_blob(self.base, data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, tag: str | None, created: datetime, seed: str, arch: str = "amd64") -> str:
        config = _dumps(
            {
                "architecture": arch,
                "os": "linux",
                "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "rootfs": {"type": "layers", "diff_ids": []},
                "config": {"Labels": {"seed": seed}},
            }
        )
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(config, CONFIG),
            "layers": [self.blob(f"layer {seed}".encode(), LAYER)],
        }
        return self.manifest(document, tag)

    def index(self, tag: str, children: list[tuple[str, str]]) -> str:
        entries = [
            {**self.descriptors[digest], "platform": {"os": "linux", "architecture": arch}}
            for digest, arch in children
        ]
        return self.manifest(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, tag
        )

    def artifact(self, kind: str, seed: str, tag: str | None, subject: str | None) -> str:
        document: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(_dumps({"seed": seed}), kind),
            "layers": [self.blob(f"payload {seed}".encode(), "application/octet-stream")],
        }
        if subject is not None:
            document["artifactType"] = kind
            document["subject"] = self.descriptors[subject]
        return self.manifest(document, tag)


def build(real: RealRegistry, repository: str) -> dict[str, str]:
    """The issue's repository: 30 tags (and digest tags); returns manifests by role."""
    d: dict[str, str] = {}
    with Client(insecure_registries=[real.authority], timeout=30) as client:
        b = Builder(client, f"{real.authority}/{repository}")
        for i in range(22):
            d[f"img-{i:02d}"] = b.image(f"img-{i:02d}", DAY0 + timedelta(days=i), f"img {i}")
        client.tag(f"{b.base}:img-05", "alias-05")  # one manifest, two tags
        client.tag(f"{b.base}:img-21", "alias-21")
        client.tag(f"{b.base}:img-01", "release-1")  # excluded: keeps img-01
        d["c-amd64"] = b.image("multi-amd64", DAY0 + timedelta(days=40), "multi amd64")
        d["c-arm64"] = b.image("multi-arm64", DAY0 + timedelta(days=41), "multi arm64", "arm64")
        d["multi"] = b.index("multi", [(d["c-amd64"], "amd64"), (d["c-arm64"], "arm64")])
        d["o-amd64"] = b.image("oldmulti-amd64", DAY0 - timedelta(days=30), "old amd64")
        d["o-arm64"] = b.image(None, DAY0 - timedelta(days=29), "old arm64", "arm64")
        d["oldmulti"] = b.index("oldmulti", [(d["o-amd64"], "amd64"), (d["o-arm64"], "arm64")])
        cosign = "application/vnd.dev.cosign.artifact.sig.v1+json"
        for name in ("img-21", "img-03"):  # cosign signatures under sha256-<hex>.sig
            sig_tag = f"sha256-{d[name][7:]}.sig"
            d[f"sig {name}"] = b.artifact(cosign, f"sig {name}", sig_tag, None)
        for name in ("img-20", "img-02"):  # SBOM referrers: regwire writes the fallback tag
            d[f"sbom {name}"] = b.artifact("application/spdx+json", f"sbom {name}", None, d[name])
            d[f"fallback {name}"] = client.digest(f"{b.base}:sha256-{d[name][7:]}")
        d["pinned"] = b.image(None, DAY0 - timedelta(days=400), "pinned by digest")
    return d


def expected(d: dict[str, str]) -> tuple[set[str], set[str]]:
    """(tags left, digests deleted) by ``--keep 5 --exclude 'release-.*'`` at NOW."""
    tags = {"multi", "multi-arm64", "multi-amd64", "img-21", "alias-21", "img-20", "release-1"}
    tags |= {f"sha256-{d['img-21'][7:]}.sig", f"sha256-{d['img-20'][7:]}"}
    images = {d[f"img-{i:02d}"] for i in range(20)} - {d["img-01"]}
    deleted = images | {d["sig img-03"], d["sbom img-02"], d["fallback img-02"]}
    deleted |= {d["oldmulti"], d["o-amd64"], d["o-arm64"]}
    return tags, deleted


class Outside:
    """Plain HTTP to the registry, no regwire: what a deployment would see."""

    def __init__(self, real: RealRegistry, repository: str) -> None:
        self.port, self.repository = real.port, repository

    def get(self, method: str, kind: str, reference: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            path = f"/v2/{self.repository}/{kind}/{reference}"
            connection.request(method, path, headers={"Accept": ACCEPT})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def closure(self, tag: str, tags: set[str]) -> set[str]:
        """Every manifest the tag reaches, each read (200) and its blobs present; a manifest
        reaches its index entries, its fallback index and its cosign tags."""
        status, body = self.get("GET", "manifests", tag)
        assert status == 200, (tag, status)
        seen: set[str] = set()
        stack = [digest_of(body)]
        while stack:
            digest = stack.pop()
            if digest in seen:
                continue
            seen.add(digest)
            status, body = self.get("GET", "manifests", digest)
            assert status == 200, (tag, digest, status)
            document = json.loads(body)
            for blob in [document.get("config"), *document.get("layers", [])]:
                if blob is not None:
                    assert self.get("HEAD", "blobs", blob["digest"])[0] == 200
            stack += [entry["digest"] for entry in document.get("manifests", [])]
            for suffix in ("", ".sig", ".att", ".sbom"):
                attached = f"sha256-{digest[7:]}{suffix}"
                if attached in tags:
                    status, body = self.get("GET", "manifests", attached)
                    assert status == 200, (attached, status)
                    stack.append(digest_of(body))
        return seen


def _prune(real: RealRegistry, driver: str, repository: str, *, dry_run: bool) -> Any:
    async def scenario(client: Any) -> Any:
        return await client.prune(
            f"{real.authority}/{repository}",
            keep=5,
            exclude="release-.*",
            dry_run=dry_run,
            now=NOW,
        )

    kwargs = {"insecure_registries": [real.authority], "timeout": 30}
    return run_with(driver, scenario, **kwargs)


def _writes_since(real: RealRegistry, offset: int) -> list[bytes]:
    real.log_size()  # flushes
    with open(real.directory / "registry.log", "rb") as log:
        log.seek(offset)
        return [line for line in log if any(verb in line for verb in WRITES)]


@pytest.mark.parametrize("driver", DRIVERS)
def test_prune_on_the_real_registry(registry: RealRegistry, driver: str) -> None:
    repository = f"prune/{driver}"
    d = build(registry, repository)
    before = set(registry.list_tags(repository))
    assert len({t for t in before if not t.startswith("sha256-")}) == 30
    outside = Outside(registry, repository)

    offset = registry.log_size()
    planned = _prune(registry, driver, repository, dry_run=True)
    assert isinstance(planned, RetentionPlan)
    assert registry.requests_since(offset) > 0  # the log records this prune's reads
    assert _writes_since(registry, offset) == []  # no PUT, DELETE, POST or PATCH
    assert set(registry.list_tags(repository)) == before

    tags_left, deleted = expected(d)
    assert set(planned.delete) == deleted
    assert {t.tag for t in planned.kept} == tags_left
    assert planned.untag_only == ("img-01",)  # its manifest stays under release-1

    offset = registry.log_size()
    done = _prune(registry, driver, repository, dry_run=False)
    assert done == planned  # the same reads give the same plan
    assert _writes_since(registry, offset)  # and this time it wrote
    left = set(registry.list_tags(repository))
    assert left == tags_left
    reached: set[str] = set()
    for tag in left - {t for t in left if t.startswith("sha256-")}:
        reached |= outside.closure(tag, left)
    kept_manifests = {d["img-21"], d["img-20"], d["img-01"], d["multi"], d["c-amd64"]}
    kept_manifests |= {d["c-arm64"], d["sig img-21"], d["sbom img-20"], d["fallback img-20"]}
    assert kept_manifests <= reached
    assert not reached & deleted
    for digest in deleted:
        assert outside.get("HEAD", "manifests", digest)[0] == 404, digest
    assert outside.get("HEAD", "manifests", d["pinned"])[0] == 200  # no tag ever reached it


def test_prune_command_dry_run_on_the_real_registry(registry: RealRegistry) -> None:
    repository = "prune/command"
    d = build(registry, repository)
    before = set(registry.list_tags(repository))
    offset = registry.log_size()
    command = [sys.executable, "-m", "regwire", "prune", f"{registry.authority}/{repository}",
               "--keep", "5", "--exclude", "release-.*", "--dry-run", "--json", "--insecure"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert _writes_since(registry, offset) == []
    assert set(registry.list_tags(repository)) == before
    assert set(json.loads(done.stdout)["delete"]) == expected(d)[1]
