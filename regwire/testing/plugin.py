"""A pytest plugin (entry point ``pytest11``): the model registry served on loopback, as fixtures.

For your own tests of code that talks to registries: each fixture starts a `ModelRegistry`
behind a `LoopbackServer` on ``127.0.0.1:<free port>`` and gives you a `ServedRegistry` (its
``authority``, ``url``, the ``model`` to fill and inspect, and for TLS the ``ca_file`` to
trust). Real tools accept it: ``skopeo copy`` pushes into it and pulls back out.

- ``model_registry``: plain http, no auth (``--tls-verify=false`` / ``insecure_registries``);
- ``model_registry_tls``: https from a throwaway CA (needs ``trustme``);
- ``model_registry_bearer``: plain http, a Bearer token realm on the same server, user
  ``alice`` with password ``wonderland``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .model import ModelRegistry
from .server import LoopbackServer, serve_model, trustme_tls

__all__ = ["ServedRegistry", "model_registry", "model_registry_bearer", "model_registry_tls"]

USER, PASSWORD = "alice", "wonderland"


@dataclass
class ServedRegistry:
    """A model registry on loopback: where it is, what it holds, and what to trust."""

    server: LoopbackServer
    model: ModelRegistry
    ca_file: str | None = None

    @property
    def authority(self) -> str:
        return self.server.authority

    @property
    def url(self) -> str:
        return self.server.url


def _serve(auth: str, tls: ssl.SSLContext | None, ca_file: str | None) -> Iterator[ServedRegistry]:
    scheme = "https" if tls else "http"

    def make(authority: str) -> ModelRegistry:
        return ModelRegistry(
            authority,
            scheme=scheme,
            auth=auth,  # type: ignore[arg-type]
            realm_host=authority,
            users={USER: PASSWORD},
        )

    server, model = serve_model(make, tls=tls)
    with server:
        yield ServedRegistry(server, model, ca_file)


@pytest.fixture
def model_registry() -> Iterator[ServedRegistry]:
    """A writable model registry on plain http, without auth."""
    yield from _serve("none", None, None)


@pytest.fixture
def model_registry_bearer() -> Iterator[ServedRegistry]:
    """A model registry on plain http with a Bearer realm (user alice, password wonderland)."""
    yield from _serve("bearer", None, None)


@pytest.fixture
def model_registry_tls() -> Iterator[ServedRegistry]:
    """A model registry on https, its certificate from a CA whose file is ``ca_file``."""
    try:
        context, path = trustme_tls()
    except ImportError as exc:  # pragma: no cover - trustme is in the dev extra
        raise RuntimeError("model_registry_tls needs trustme: pip install trustme") from exc
    try:
        yield from _serve("none", context, path)
    finally:
        os.unlink(path)
