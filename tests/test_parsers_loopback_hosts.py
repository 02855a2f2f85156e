"""The model registry on loopback answers every name of its own socket (issue 25 item 13).

`serve_model` builds the model for ``127.0.0.1:PORT``; a client told ``localhost:PORT`` (or
``[::1]:PORT``) reaches the same socket and must get the same registry, while any other name
still gets the model's 502, so that tests which tell hosts apart keep working.
"""

from __future__ import annotations

import http.client
from typing import Any

import pytest

import regwire
from regwire.testing.plugin import ServedRegistry
from tests.harness.drivers import DRIVERS, run_with


def _get(served: ServedRegistry, host: str, path: str = "/v2/") -> tuple[int, bytes]:
    """GET ``path`` over a real socket to the server, with ``host`` as the Host header."""
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["localhost", "LocalHost", "127.0.0.1", "[::1]"])
def test_the_sockets_own_names_reach_the_model(model_registry: ServedRegistry, name: str) -> None:
    model_registry.model.push_image("team/app", "1.0")
    port = model_registry.server.port
    assert _get(model_registry, f"{name}:{port}")[0] == 200
    status, body = _get(model_registry, f"{name}:{port}", "/v2/team/app/tags/list")
    assert status == 200 and b'"1.0"' in body


@pytest.mark.parametrize("host", ["other.test:{port}", "localhost:{other}", "localhost", "::1"])
def test_any_other_host_still_gets_502(model_registry: ServedRegistry, host: str) -> None:
    port = model_registry.server.port
    status, body = _get(model_registry, host.format(port=port, other=port + 1))
    assert status == 502 and b"no such host" in body


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_client_told_localhost_gets_the_registry(
    model_registry: ServedRegistry, driver: str
) -> None:
    model_registry.model.push_image("team/app", "1.0")
    authority = f"localhost:{model_registry.server.port}"

    async def scenario(c: Any) -> list[str]:
        tags: list[str] = await c.tags(f"{authority}/team/app")
        return tags

    tags = run_with(
        driver, scenario, insecure_registries=[authority], credentials=regwire.Credentials()
    )
    assert tags == ["1.0"]
