"""ratelimit (issue 31): Docker Hub's RateLimit headers read from a HEAD of the manifest, through
every driver and the command; None/null where a registry sends none."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire.cli import main
from regwire.sansio import Response
from regwire.sansio.errors import RegistryError, TagNotFound
from regwire.sansio.ratelimit import RateLimit, parse_ratelimit, read_ratelimit
from regwire.testing import Quirks
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with


def test_docker_hub_form() -> None:
    assert parse_ratelimit("100;w=21600") == (100, 21600)
    assert parse_ratelimit(" 76 ; w=21600 ") == (76, 21600)
    assert parse_ratelimit("100") == (100, None)
    assert parse_ratelimit("100, 100;w=21600") == (100, None)
    assert parse_ratelimit('5000;w=3600;comment="x"') == (5000, 3600)
    for bad in (None, "", "-1", "many", ";w=5", "1" * 40, "1.5;w=2"):
        assert parse_ratelimit(bad) is None
    response = Response(
        200,
        (
            ("RateLimit-Limit", "100;w=21600"),
            ("RateLimit-Remaining", "76;w=21600"),
            ("Docker-RateLimit-Source", "203.0.113.9"),
        ),
    )
    assert read_ratelimit(response) == RateLimit(100, 76, 21600, "203.0.113.9")
    assert read_ratelimit(Response(200)) == RateLimit()


@given(text=st.text(max_size=40) | st.from_regex(r"[0-9 ;,w=a-z.-]{0,30}", fullmatch=True))
def test_any_header_text_parses_or_is_none(text: str) -> None:
    try:
        found = parse_ratelimit(text)
    except RegistryError:
        return
    assert found is None or (found[0] >= 0 and (found[1] is None or found[1] >= 0))
    read_ratelimit(Response(200, (("RateLimit-Limit", text), ("RateLimit-Remaining", text))))


def _serve(ratelimit: bool) -> tuple[LoopbackServer, ModelRegistry]:
    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http", quirks=Quirks(ratelimit=ratelimit))
        model.push_image("library/app", "v1", {})
        return model

    return serve_model(make)


def _ask(driver: str, server: LoopbackServer, ref: str) -> Any:
    async def scenario(client: Any) -> Any:
        await client.manifest(f"{server.authority}/library/app:v1")  # one pull spent
        try:
            return await client.ratelimit(ref)
        except RegistryError as exc:
            return exc

    return run_with(
        driver, scenario, insecure_registries=[server.authority], credentials=None, timeout=10
    )


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_client_reads_the_limit_by_head(driver: str) -> None:
    server, model = _serve(True)
    with server:
        found = _ask(driver, server, f"{server.authority}/library/app:v1")
        missing = _ask(driver, server, f"{server.authority}/library/app:nope")
    assert found == RateLimit(100, 99, 21600, "127.0.0.1")
    assert isinstance(missing, TagNotFound)
    asked = [r for r in model.requests if "/manifests/" in r.url]
    assert [r.method for r in asked] == ["GET", "HEAD", "GET", "HEAD"]  # ratelimit spends none


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_registry_without_limits_gives_none(driver: str) -> None:
    server, _ = _serve(False)
    with server:
        assert _ask(driver, server, f"{server.authority}/library/app:v1") == RateLimit()


def test_ratelimit_command(capsys: pytest.CaptureFixture[str]) -> None:
    for ratelimit, expected in (
        (True, {"limit": 100, "remaining": 100, "window": 21600, "source": "127.0.0.1"}),
        (False, {"limit": None, "remaining": None, "window": None, "source": None}),
    ):
        server, _ = _serve(ratelimit)
        with server:
            ref = f"{server.authority}/library/app:v1"
            assert main(["ratelimit", ref, "--json", "--insecure", "--creds", ":"]) == 0
            assert json.loads(capsys.readouterr().out) == expected
            assert main(["ratelimit", ref, "--insecure", "--creds", ":"]) == 0
            lines = capsys.readouterr().out.splitlines()
            assert lines[0] == f"limit\t{expected['limit'] or '-'}"
            assert main(["ratelimit", f"{ref}x", "--insecure", "--creds", ":"]) == 3
            capsys.readouterr()
