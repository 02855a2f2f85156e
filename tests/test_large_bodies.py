"""Large bodies are read straight off the stream in pieces of a fixed size (past h11, and for trio
through regwire's own TLS reads): what is written is the blob, whole and verified, over plain
http and TLS, and failures stay typed."""

from __future__ import annotations

import hashlib
import io
import os
import ssl
from typing import Any

import pytest
import trustme

from regwire import DigestMismatch
from regwire.testing import ModelRegistry
from regwire.testing.hostile import HostileServer
from regwire.testing.server import serve_model
from tests.harness.drivers import DRIVERS, run_with

BIG = os.urandom(3 * 1024 * 1024 + 12345)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_large_download_and_a_copy_are_whole(driver: str) -> None:
    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        m.push_image("team/big", "1", None, [BIG, b"small layer"])
        return m

    server, model = serve_model(make)
    dest, other = serve_model(lambda host: ModelRegistry(host, scheme="http"))
    digest = "sha256:" + hashlib.sha256(BIG).hexdigest()
    try:

        async def scenario(client: Any) -> tuple[int, str]:
            out = io.BytesIO()
            size = await client.blob(f"{server.authority}/team/big@{digest}", out)
            assert out.getvalue() == BIG
            copied = await client.copy(f"{server.authority}/team/big:1", f"{dest.authority}/m/big")
            return size, copied

        size, copied = run_with(
            driver, scenario, insecure_registries=[server.authority, dest.authority]
        )
        assert size == len(BIG)
        assert other.repositories["m/big"].blobs[digest] == BIG
        assert copied == model.repositories["team/big"].tags["1"]
    finally:
        server.close()
        dest.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_large_download_reset_midway_resumes_and_a_tampered_one_is_refused(driver: str) -> None:
    with HostileServer() as hostile:
        model = ModelRegistry(hostile.authority, scheme="http")
        model.push_image("team/big", "1", None, [BIG])
        digest = "sha256:" + hashlib.sha256(BIG).hexdigest()

        def serve(request: Any) -> Any:
            response = model.handle(request)
            if "/blobs/" in request.url and response.status == 200 and response.body == BIG:
                headers = (*response.headers, ("Accept-Ranges", "bytes"))
                return type(response)(200, headers, response.body)
            return response

        hostile.handler = serve
        hostile.fault("reset-body", f"/blobs/{digest}", 1)

        async def scenario(client: Any) -> bytes:
            out = io.BytesIO()
            await client.blob(f"{hostile.authority}/team/big@{digest}", out)
            return out.getvalue()

        assert run_with(driver, scenario, insecure_registries=[hostile.authority]) == BIG
        tampered = BIG[:-1] + bytes([BIG[-1] ^ 1])
        model.repositories["team/big"].blobs[digest] = tampered
        with pytest.raises(DigestMismatch):
            run_with(driver, scenario, insecure_registries=[hostile.authority])


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_large_download_over_tls_is_whole_and_the_connection_kept(
    driver: str, tmp_path: Any
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(bundle)

    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="https")
        m.push_image("team/big", "1", None, [BIG])
        return m

    server, _ = serve_model(make, tls=context)
    digest = "sha256:" + hashlib.sha256(BIG).hexdigest()
    try:

        async def scenario(client: Any) -> list[bytes]:
            outs = []
            for _ in range(2):
                out = io.BytesIO()
                await client.blob(f"{server.authority}/team/big@{digest}", out)
                outs.append(out.getvalue())
            return outs

        assert run_with(driver, scenario, ca_file=bundle) == [BIG, BIG]
        assert server.connections == 1
    finally:
        server.close()
