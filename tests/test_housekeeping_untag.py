"""untag (issue 31): the tag goes, the manifest and its other tags stay, on every registry
behaviour (tag DELETE supported, 400 DIGEST_INVALID, 405 UNSUPPORTED, deletes off), through
every driver and the command; a failure after the throwaway is pushed puts the tag back."""

from __future__ import annotations

from typing import Any

import pytest

from regwire.cli import main
from regwire.sansio import Request, Response
from regwire.sansio.errors import RegistryError, ServerError, TagNotFound, Unsupported
from regwire.sansio.manage import throwaway_manifest
from regwire.testing import Quirks
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

BEHAVIOURS = ["supported", "digest_invalid", "unsupported"]


def _serve(quirks: Quirks) -> tuple[LoopbackServer, ModelRegistry, str]:
    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http", quirks=quirks)
        digest = model.push_image("w/app", "v1", {"config": {"Labels": {"a": "b"}}})
        model.repositories["w/app"].tags["stable"] = digest
        model.push_image("w/app", "other", {"config": {"Labels": {"c": "d"}}})
        return model

    server, model = serve_model(make)
    return server, model, model.repositories["w/app"].tags["v1"]


def _untag(driver: str, server: LoopbackServer, ref: str) -> Any:
    async def scenario(client: Any) -> Any:
        try:
            return await client.untag(ref)
        except RegistryError as exc:
            return exc

    return run_with(
        driver, scenario, insecure_registries=[server.authority], credentials=None, timeout=10
    )


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("driver", DRIVERS)
def test_untag_keeps_the_manifest_and_its_other_tags(driver: str, behaviour: str) -> None:
    server, model, digest = _serve(Quirks(tag_delete=behaviour))  # type: ignore[arg-type]
    repo = model.repositories["w/app"]
    manifests_before = dict(repo.manifests)
    with server:
        answer = _untag(driver, server, f"{server.authority}/w/app:v1")
    assert answer == digest
    assert "v1" not in repo.tags
    assert repo.tags["stable"] == digest and digest in repo.manifests
    assert "other" in repo.tags
    assert repo.manifests == manifests_before  # the throwaway is gone, nothing else deleted
    deleted = [r.url for r in model.requests if r.method == "DELETE"]
    assert not any(url.endswith(digest) for url in deleted)  # never the tagged manifest
    pushed = [r for r in model.requests if r.method == "PUT" and "/manifests/" in r.url]
    assert bool(pushed) == (behaviour != "supported")  # a throwaway only where needed
    gets = [r for r in model.requests if r.method == "GET" and "/manifests/" in r.url]
    assert bool(gets) == (behaviour != "supported")  # a HEAD alone where the DELETE works


@pytest.mark.parametrize("driver", DRIVERS)
def test_untag_refuses_before_writing_where_deletes_are_off(driver: str) -> None:
    server, model, _ = _serve(Quirks(deletes=False, tag_delete="digest_invalid"))
    repo = model.repositories["w/app"]
    before = (dict(repo.tags), dict(repo.manifests), dict(repo.blobs))
    with server:
        answer = _untag(driver, server, f"{server.authority}/w/app:v1")
    assert isinstance(answer, Unsupported) and "deletes" in str(answer)
    assert (repo.tags, repo.manifests, repo.blobs) == before
    assert not [r for r in model.requests if r.method in ("PUT", "POST", "PATCH")]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_failed_throwaway_delete_puts_the_tag_back(driver: str) -> None:
    server, model, digest = _serve(Quirks(tag_delete="digest_invalid"))
    throwaways: list[str] = []

    def failing(request: Request) -> Response:
        # The throwaway's DELETE by digest fails (after the probe and the tag DELETE).
        is_digest = "/manifests/sha256:" in request.url
        if request.method == "DELETE" and is_digest and throwaways_pushed(model):
            throwaways.append(request.url)
            return Response(500, (("Content-Type", "text/plain"),), b"storage driver error")
        return model.handle(request)

    server.handler = failing
    repo = model.repositories["w/app"]
    with server:
        answer = _untag(driver, server, f"{server.authority}/w/app:v1")
    assert isinstance(answer, ServerError)
    assert throwaways  # the failing step was reached
    assert repo.tags["v1"] == digest and repo.tags["stable"] == digest  # put back


def throwaways_pushed(model: ModelRegistry) -> bool:
    return any(r.method == "PUT" and r.url.endswith("/manifests/v1") for r in model.requests)


def test_untag_of_a_missing_tag_is_not_found_and_writes_nothing() -> None:
    server, model, _ = _serve(Quirks(tag_delete="digest_invalid"))
    with server:
        answer = _untag("sync", server, f"{server.authority}/w/app:nope")
    assert isinstance(answer, TagNotFound)
    assert not [r for r in model.requests if r.method not in ("GET", "HEAD")]


@pytest.mark.parametrize("driver", DRIVERS)
def test_untag_needs_a_tag(driver: str) -> None:
    server, _, digest = _serve(Quirks())

    async def scenario(client: Any) -> str:
        for ref in (f"{server.authority}/w/app", f"{server.authority}/w/app@{digest}"):
            with pytest.raises(ValueError, match="names no tag"):
                await client.untag(ref)
        return "ok"

    with server:
        assert run_with(driver, scenario, insecure_registries=[server.authority]) == "ok"


def test_throwaways_are_unique() -> None:
    assert throwaway_manifest("a") != throwaway_manifest("b")


def test_untag_command(capsys: pytest.CaptureFixture[str]) -> None:
    server, model, digest = _serve(Quirks(tag_delete="unsupported"))
    repo = model.repositories["w/app"]
    other = repo.tags["other"]
    with server:
        a = server.authority
        status = main(["untag", f"{a}/w/app:v1", f"{a}/w/app:other", "--insecure", "--creds", ":"])
        out, err = capsys.readouterr()
        assert status == 0, err
        assert set(repo.tags) == {"stable"} and repo.tags["stable"] == digest
        assert out.split() == [digest, other]
        status = main(["untag", f"{a}/w/app", "--insecure", "--creds", ":"])
        assert status == 2 and "names no tag" in capsys.readouterr().err
        model.quirks.deletes = False
        status = main(["untag", f"{a}/w/app:stable", "--insecure", "--creds", ":"])
        err = capsys.readouterr().err
        assert status == 1 and "deletes" in err and len(err.splitlines()) == 1
        assert repo.tags["stable"] == digest
