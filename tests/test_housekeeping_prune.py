"""prune (issue 31) on the model registry, through every driver, on each registry's tag-delete
behaviour: the plan keeps the newest images with their children, signatures and SBOMs, a real
run leaves exactly what the plan says, a dry run writes nothing, and a registry that does no
deletes is refused before anything is written; and the command."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from regwire.sansio import Request, Response
from regwire.sansio.errors import InvalidFilter, RegistryError, Unsupported
from regwire.sansio.manifests import OCI_INDEX, OCI_MANIFEST
from regwire.sansio.retention import InvalidDuration, RetentionPlan
from regwire.testing import Quirks
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
REPO = "w/app"
WRITES = ("PUT", "POST", "PATCH", "DELETE")
BEHAVIOURS = [
    Quirks(tag_delete="supported"),
    Quirks(tag_delete="digest_invalid", referrers_api=False),  # distribution 2.8
    Quirks(tag_delete="unsupported"),
]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _descriptor(model: ModelRegistry, digest: str, **extra: Any) -> dict[str, Any]:
    media_type, raw = model.repositories[REPO].manifests[digest]
    return {"mediaType": media_type, "digest": digest, "size": len(raw), **extra}


def _artifact(model: ModelRegistry, config_type: str, seed: str, **extra: Any) -> bytes:
    config = _dumps({"seed": seed})
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": config_type,
            "digest": model.put_blob(REPO, config),
            "size": len(config),
        },
        "layers": [],
        **extra,
    }
    return _dumps(document)


def build(model: ModelRegistry) -> dict[str, str]:
    """A small repository; returns its manifests by role."""
    d: dict[str, str] = {}

    def image(tag: str | None, created: str, seed: str) -> str:
        return model.push_image(REPO, tag, {"created": created}, [seed.encode()])

    d["v1"] = image("v1", "2024-01-01T00:00:00Z", "one")
    d["v2"] = image("v2", "2024-02-01T00:00:00Z", "two")
    model.repositories[REPO].tags["v2-alias"] = d["v2"]  # one image, two tags
    d["v3"] = image("v3", "2024-03-01T00:00:00Z", "three")
    d["amd64"] = image("multi-amd64", "2024-04-01T00:00:00Z", "amd64")
    d["arm64"] = image(None, "2024-04-02T00:00:00Z", "arm64")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            _descriptor(model, d["amd64"], platform={"os": "linux", "architecture": "amd64"}),
            _descriptor(model, d["arm64"], platform={"os": "linux", "architecture": "arm64"}),
        ],
    }
    d["multi"] = model.put_manifest(REPO, _dumps(index), OCI_INDEX, "multi")
    # A cosign signature of v3, under its digest tag.
    sig = _artifact(model, "application/vnd.dev.cosign.artifact.sig.v1+json", "sig of v3")
    d["sig"] = model.put_manifest(REPO, sig, OCI_MANIFEST, f"sha256-{d['v3'][7:]}.sig")
    # An SBOM referrer of v1, and the referrers fallback index that lists it.
    sbom = _artifact(
        model,
        "application/vnd.oci.empty.v1+json",
        "sbom of v1",
        artifactType="application/spdx+json",
        subject=_descriptor(model, d["v1"]),
    )
    d["sbom"] = model.put_manifest(REPO, sbom, OCI_MANIFEST, None)
    fallback = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [_descriptor(model, d["sbom"], artifactType="application/spdx+json")],
    }
    d["fallback"] = model.put_manifest(REPO, _dumps(fallback), OCI_INDEX, f"sha256-{d['v1'][7:]}")
    # An old image kept by an excluded tag, with an old tag of its own that goes.
    d["base"] = image("keep-base", "2023-01-01T00:00:00Z", "base")
    model.repositories[REPO].tags["base-old"] = d["base"]
    # Pinned: pushed by digest, no tag ever named it.
    d["pinned"] = image(None, "2022-01-01T00:00:00Z", "pinned")
    return d


def serve(quirks: Quirks) -> tuple[LoopbackServer, ModelRegistry, dict[str, str]]:
    roles: dict[str, str] = {}

    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http", quirks=quirks)
        roles.update(build(model))
        return model

    server, model = serve_model(make)
    return server, model, roles


def _prune(driver: str, server: LoopbackServer, **options: Any) -> Any:
    async def scenario(client: Any) -> Any:
        try:
            return await client.prune(f"{server.authority}/{REPO}", now=NOW, **options)
        except RegistryError as exc:
            return exc

    return run_with(
        driver, scenario, insecure_registries=[server.authority], credentials=None, timeout=10
    )


def expected(d: dict[str, str]) -> tuple[set[str], set[str]]:
    """(tags left, manifests deleted) for --keep 2 --exclude keep-.*"""
    tags = {"multi", "multi-amd64", "keep-base"}
    deleted = {d["v1"], d["v2"], d["v3"], d["sig"], d["sbom"], d["fallback"]}
    return tags, deleted


@pytest.mark.parametrize("quirks", BEHAVIOURS, ids=lambda q: q.tag_delete)
@pytest.mark.parametrize("driver", DRIVERS)
def test_prune_leaves_what_the_plan_says(driver: str, quirks: Quirks) -> None:
    server, model, d = serve(quirks)
    repo = model.repositories[REPO]
    before = set(repo.manifests)
    with server:
        plan = _prune(driver, server, keep=2, exclude="keep-.*")
    assert isinstance(plan, RetentionPlan), plan
    tags, deleted = expected(d)
    assert set(plan.delete) == deleted
    assert plan.untag == ("base-old", "v1", "v2", "v2-alias", "v3")
    assert plan.untag_only == ("base-old",)
    assert set(repo.tags) == tags == {t.tag for t in plan.kept}
    assert set(repo.manifests) == before - deleted
    assert d["pinned"] in repo.manifests and d["arm64"] in repo.manifests  # never touched
    # Namers go first: the signature before v3, the fallback index and SBOM before v1.
    order = plan.delete
    assert order.index(d["sig"]) < order.index(d["v3"])
    assert order.index(d["fallback"]) < order.index(d["sbom"]) < order.index(d["v1"])
    deleted_urls = [r.url for r in model.requests if r.method == "DELETE"]
    for digest in (d["multi"], d["amd64"], d["arm64"], d["base"], d["pinned"]):
        assert not any(url.endswith(digest) for url in deleted_urls)


@pytest.mark.parametrize("driver", DRIVERS)
def test_prune_dry_run_writes_nothing_and_plans_the_same(driver: str) -> None:
    server, model, d = serve(Quirks(tag_delete="digest_invalid", referrers_api=False))
    repo = model.repositories[REPO]
    before = (dict(repo.tags), dict(repo.manifests), dict(repo.blobs))
    with server:
        plan = _prune(driver, server, keep=2, exclude="keep-.*", dry_run=True)
    assert isinstance(plan, RetentionPlan), plan
    assert set(plan.delete) == expected(d)[1]
    assert (repo.tags, repo.manifests, repo.blobs) == before
    assert not [r for r in model.requests if r.method in WRITES]


@pytest.mark.parametrize("driver", DRIVERS)
def test_prune_refuses_before_writing_where_deletes_are_off(driver: str) -> None:
    for exclude in ("keep-.*", "keep-base|base-old"):  # with and without a tag to untag first
        server, model, _ = serve(Quirks(deletes=False, tag_delete="digest_invalid"))
        repo = model.repositories[REPO]
        before = (dict(repo.tags), dict(repo.manifests), dict(repo.blobs))
        with server:
            answer = _prune(driver, server, keep=2, exclude=exclude)
        assert isinstance(answer, Unsupported), answer
        assert (repo.tags, repo.manifests, repo.blobs) == before
        assert not [r for r in model.requests if r.method in ("PUT", "POST", "PATCH")]


@pytest.mark.parametrize("driver", DRIVERS)
def test_prune_older_than_keeps_the_young(driver: str) -> None:
    server, model, _ = serve(Quirks())
    with server:
        plan = _prune(driver, server, keep=1, older_than="300d", exclude="keep-.*|base-old")
    assert isinstance(plan, RetentionPlan), plan
    # 2025-01-01 minus 300 days is 2024-03-07: v3 (March 1st) and older go; multi-amd64 stays.
    assert plan.untag == ("v1", "v2", "v2-alias", "v3")
    assert "multi-amd64" in model.repositories[REPO].tags


@pytest.mark.parametrize("driver", DRIVERS)
def test_prune_checks_its_arguments_before_any_request(driver: str) -> None:
    server, model, _ = serve(Quirks())

    async def scenario(client: Any) -> str:
        ref = f"{server.authority}/{REPO}"
        with pytest.raises(InvalidDuration):
            await client.prune(ref, keep=1, older_than="3 days")
        with pytest.raises(InvalidFilter):
            await client.prune(ref, keep=1, include="(")
        with pytest.raises(ValueError, match="keep"):
            await client.prune(ref, keep=-1)
        with pytest.raises(ValueError, match="takes a repository"):
            await client.prune(f"{ref}:v1", keep=1)
        return "ok"

    with server:
        assert run_with(driver, scenario, insecure_registries=[server.authority]) == "ok"
    assert model.requests == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_prune_deletes_tags_a_registry_keeps_on_deleted_manifests(driver: str) -> None:
    server, model, d = serve(Quirks(tag_delete="supported"))
    repo = model.repositories[REPO]

    def keeping(request: Request) -> Response:
        # A registry that deletes a manifest by digest but keeps the tags naming it.
        if request.method == "DELETE" and "/manifests/sha256:" in request.url:
            digest = request.url.rsplit("/", 1)[1]
            dangling = {t: x for t, x in repo.tags.items() if x == digest}
            response = model.handle(request)
            repo.tags.update(dangling)
            return response
        return model.handle(request)

    server.handler = keeping
    with server:
        plan = _prune(driver, server, keep=2, exclude="keep-.*")
    assert isinstance(plan, RetentionPlan), plan
    tags, deleted = expected(d)
    assert set(repo.tags) == tags
    assert not deleted & set(repo.manifests)
