"""An upload whose body takes longer than the client's timeout is no stall (every driver).

The low-speed rule (fewer than 1 KiB in ``timeout`` seconds is a timeout) is about the answer:
its window opens when the request's body is complete. It used to open with the request's head,
so a push (or a copy whose source paused to resume a broken read) that spent longer than the
timeout sending its body saw its small ``201`` answer called a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from regwire.testing import ModelRegistry, sha256
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

PIECES = [bytes([n]) * 4096 for n in range(5)]


def slow() -> Iterator[bytes]:
    for piece in PIECES:
        time.sleep(0.2)  # 1 s in all, each pause well under the 0.5 s timeout
        yield piece


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(lambda authority: ModelRegistry(authority, scheme="http"))
    with server:
        yield server, model


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_upload_slower_than_the_timeout_gets_its_answer(
    served: tuple[LoopbackServer, ModelRegistry], driver: str
) -> None:
    server, model = served
    whole = b"".join(PIECES)

    async def scenario(c: Any) -> str:
        digest: str = await c.push_blob(
            f"{server.authority}/team/app", slow(), digest=sha256(whole)
        )
        return digest

    digest = run_with(driver, scenario, insecure_registries=[server.authority], timeout=0.5)
    assert digest == sha256(whole)
    assert model.repositories["team/app"].blobs[digest] == whole
