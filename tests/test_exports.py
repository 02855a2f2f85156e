"""The public names ../shared/DESIGN.md pins: other code relies on them, so they must not drift."""

from __future__ import annotations

import inspect

import regwire
import regwire.sansio as sansio
from regwire.drivers import asyncio as asyncio_driver
from regwire.drivers import sync as sync_driver
from regwire.drivers import trio as trio_driver

TOP = [
    "Client",
    "Descriptor",
    "AccessDenied",
    "Unsupported",
    "ManifestRejected",
    "Reference",
    "Image",
    "Credentials",
    "InvalidReference",
    "RegistryError",
    "NotFound",
    "RegistryNotFound",
    "RepositoryNotFound",
    "TagNotFound",
    "ImageNotFound",
    "BlobNotFound",
    "is_not_found",
    "AuthenticationError",
    "ProtocolError",
    "DigestMismatch",
    "TooLarge",
]
CORE = [
    "Request",
    "Response",
    "ConnectionFailed",
    "Sleep",
    "drive",
    "Registry",
    "parse_challenges",
    "Challenge",
]
OPERATIONS = [
    "image_tags",
    "image_by_tag",
    "image_by_id",
    "tags",
    "manifest",
    "image",
    "digest",
    "blob",
    "blob_exists",
    "push_blob",
    "mount_blob",
    "push_manifest",
    "delete",
    "delete_blob",
    "referrers",
    "catalog",
]
CLIENT = [
    "connect",
    "image",
    "tags",
    "manifest",
    "digest",
    "blob",
    "blob_exists",
    "push_blob",
    "push_manifest",
    "tag",
    "delete",
    "delete_blob",
    "referrers",
    "catalog",
    "close",
    "__enter__",
    "__exit__",
]


def test_top_level_names() -> None:
    for name in TOP:
        assert hasattr(regwire, name), name
    for name in set(regwire.__all__) - {"Client"}:
        assert name in dir(regwire), name
    assert regwire.Client is sync_driver.Client
    assert issubclass(regwire.InvalidReference, ValueError)


def test_testing_helpers() -> None:
    import regwire.testing as testing

    for name in ("ModelRegistry", "serve_model", "FakeNetwork", "Quirks"):
        assert name in testing.__all__, name
    served = inspect.signature(testing.serve_model).parameters
    assert list(served)[:2] == ["make", "tls"]
    writes = inspect.signature(sansio.Registry.push_blob).parameters
    assert {"mount_from", "chunk_size"} <= set(writes)
    assert "artifact_type" in inspect.signature(regwire.Descriptor).parameters


def test_core_names_and_signatures() -> None:
    for name in CORE:
        assert name in sansio.__all__, name
    assert list(inspect.signature(sansio.Request).parameters)[:4] == [
        "method",
        "url",
        "headers",
        "body",
    ]
    assert list(inspect.signature(sansio.Response).parameters)[:3] == ["status", "headers", "body"]
    assert list(inspect.signature(sansio.ConnectionFailed).parameters) == ["reason", "message"]
    assert list(inspect.signature(sansio.Sleep).parameters) == ["seconds"]
    registry = inspect.signature(sansio.Registry)
    for name in ("name", "insecure", "credentials", "clock", "allow_v2"):
        assert name in registry.parameters, name
    for operation in OPERATIONS:
        assert callable(getattr(sansio.Registry, operation)), operation
    credentials = inspect.signature(regwire.Credentials).parameters
    assert list(credentials) == ["username", "password", "identity_token", "registry_token"]


def test_drivers_share_one_surface() -> None:
    for name in CLIENT:
        assert hasattr(sync_driver.Client, name), name
    for module in (trio_driver, asyncio_driver):
        for name in [*CLIENT[:-3], "images", "__aenter__", "__aexit__"]:
            assert hasattr(module.Client, name), (module.__name__, name)
    for client in (sync_driver.Client, trio_driver.Client, asyncio_driver.AsyncioBackend):
        assert client is not None
    keywords = inspect.signature(sync_driver.Client).parameters
    for name in ("credentials", "insecure_registries", "ca_file", "cert_dir", "timeout"):
        assert name in keywords, name


def test_every_module_imports_with_the_runtime_dependency_alone() -> None:
    """An installed regwire needs h11 only: no test or extra package at import time."""
    import subprocess
    import sys

    script = r"""
import importlib, importlib.abc, pkgutil, sys
BLOCKED = {"bcrypt", "cryptography", "trio", "trustme", "hypothesis", "pytest", "dxf", "oras",
           "sigstore", "sigstore_models", "rfc8785", "pydantic"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not a runtime dependency")
        return None
sys.meta_path.insert(0, Block())
import regwire
for info in pkgutil.walk_packages(regwire.__path__, "regwire."):
    if info.name not in ("regwire.drivers.trio", "regwire.__main__", "regwire.testing.plugin"):
        importlib.import_module(info.name)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
