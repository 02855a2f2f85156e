"""What concurrency buys, and what cancellation must leave behind, for the async drivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from regwire import Credentials, Image, InvalidReference, TagNotFound
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import run_with

pytestmark = pytest.mark.parametrize("driver", ["trio", "asyncio"])
IMAGES = 24
DELAY = 0.2


def many(authority: str) -> ModelRegistry:
    model = ModelRegistry(
        authority, scheme="http", auth="bearer", realm_host=authority, service="loopback"
    )
    for i in range(IMAGES):
        model.push_image(f"team/app{i}", "1", {"config": {"Labels": {"n": str(i)}}})
    return model


@pytest.fixture
def slow() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(many, delay=DELAY)
    with server:
        yield server, model


def test_images_concurrently_within_the_connection_bound(
    driver: str, slow: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, model = slow
    a = server.authority
    refs = [f"{a}/team/app{i}:1" for i in range(IMAGES)]

    async def scenario(client: Any) -> tuple[list[Any], float]:
        started = time.monotonic()
        results = await client.images(refs, concurrency=IMAGES)
        return results, time.monotonic() - started

    results, elapsed = run_with(
        driver, scenario, insecure_registries=[a], credentials=Credentials(), max_connections=8
    )
    assert [r.config.labels["n"] for r in results] == [str(i) for i in range(IMAGES)]
    # Sequentially: probe, 1 token request, then manifest + config per image = 50 x DELAY = 10 s.
    # With 8 connections: about (2 + 48 / 8) x DELAY = 1.6 s.
    assert elapsed < 0.5 * (2 + 2 * IMAGES) * DELAY
    assert server.max_active <= 8 + 1  # + the failed https attempt's connection
    tokens = [r for r in model.requests if r.url.split("?")[0].endswith("/token")]
    assert len(tokens) == 1  # shared, not one per task


def test_images_reports_each_failure_in_place(
    driver: str, slow: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, _ = slow
    a = server.authority
    refs = [f"{a}/team/app0:1", f"{a}/team/app1:nope", "Not A Reference", f"{a}/team/app2:1"]

    async def scenario(client: Any) -> list[Any]:
        return list(await client.images(refs))

    results = run_with(driver, scenario, insecure_registries=[a], credentials=Credentials())
    assert isinstance(results[0], Image) and isinstance(results[3], Image)
    assert isinstance(results[1], TagNotFound)
    assert isinstance(results[2], InvalidReference)


def test_cancellation_leaves_the_pool_clean(
    driver: str, slow: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, _model = slow
    a = server.authority

    async def scenario(client: Any) -> tuple[int, str]:
        await client.tags(f"{a}/team/app0")  # warm: probe, token, one pooled connection
        if driver == "trio":
            with trio.move_on_after(DELAY / 2):
                await client.image(f"{a}/team/app1:1")
        else:
            try:
                await asyncio.wait_for(client.image(f"{a}/team/app1:1"), DELAY / 2)
            except asyncio.TimeoutError:
                pass
        idle = client.transport.pool.idle_count()
        # the next call works, on a healthy connection
        image = await client.image(f"{a}/team/app2:1")
        return idle, image.config.labels["n"]

    idle, label = run_with(driver, scenario, insecure_registries=[a], credentials=Credentials())
    assert idle == 0  # the cancelled request's connection was closed, not pooled
    assert label == "2"
