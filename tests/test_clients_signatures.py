"""The blocking client and the async clients offer the same operations, spelt the same way.

Each operation is written once (`regwire.drivers.operations`) and the clients are thin over it;
this pins what a caller sees: the same public names, parameters, kinds, defaults and annotations,
differing only where the concurrency model must (listed below, each with its reason).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from regwire.drivers import asyncio as asyncio_driver
from regwire.drivers import sync as sync_driver
from regwire.drivers import trio as trio_driver
from regwire.drivers._async import AsyncClient

BLOCKING = sync_driver.Client
ASYNC = {"trio": trio_driver.Client, "asyncio": asyncio_driver.Client}

# Names that differ because one client blocks and the others await.
ONLY_BLOCKING = {"close", "__enter__", "__exit__"}
ONLY_ASYNC = {"aclose", "__aenter__", "__aexit__"}
# (method, parameter): annotations that differ, and why.
DIFFERENT_TYPES = {
    # only an event loop can iterate an async iterable of bytes
    ("push_blob", "source"),
}
# Constructor parameters only the async clients take: a blocking client's connections are
# bounded by its callers' threads, an async client's tasks need a bound per endpoint.
ONLY_ASYNC_SETTINGS = {"max_connections"}


def public(cls: type) -> set[str]:
    names = set(dir(cls))
    return {name for name in names if not name.startswith("_")} | (
        names & (ONLY_BLOCKING | ONLY_ASYNC)
    )


def described(function: Any, skip: set[str] = frozenset()) -> list[tuple[str, str, str, str]]:
    """Each parameter as (name, kind, default, annotation), the annotations as written."""
    return [
        (p.name, p.kind.name, repr(p.default), str(p.annotation))
        for p in inspect.signature(function).parameters.values()
        if p.name not in skip
    ]


@pytest.mark.parametrize("flavour", sorted(ASYNC))
def test_the_clients_offer_the_same_public_names(flavour: str) -> None:
    blocking = public(BLOCKING) - ONLY_BLOCKING
    awaited = public(ASYNC[flavour]) - ONLY_ASYNC
    assert blocking == awaited
    assert public(BLOCKING) >= ONLY_BLOCKING
    assert public(ASYNC[flavour]) >= ONLY_ASYNC


def _methods() -> list[str]:
    names = (public(BLOCKING) - ONLY_BLOCKING) & (public(AsyncClient) - ONLY_ASYNC)
    return sorted(name for name in names if callable(getattr(BLOCKING, name)))


@pytest.mark.parametrize("flavour", sorted(ASYNC))
@pytest.mark.parametrize("name", _methods())
def test_every_method_takes_the_same_parameters_and_defaults(flavour: str, name: str) -> None:
    blocking = described(getattr(BLOCKING, name))
    awaited = described(getattr(ASYNC[flavour], name))
    assert [p[:3] for p in blocking] == [p[:3] for p in awaited]
    for (pname, *_, mine), (_, *_, theirs) in zip(blocking, awaited, strict=True):
        if (name, pname) not in DIFFERENT_TYPES:
            assert mine == theirs, f"{name}({pname}): {mine} here, {theirs} there"
    assert inspect.iscoroutinefunction(getattr(ASYNC[flavour], name))
    assert not inspect.iscoroutinefunction(getattr(BLOCKING, name))


def test_every_method_is_compared() -> None:
    """The list above is not empty by accident: every operation of DESIGN.md is in it."""
    assert {
        "image", "tags", "manifest", "digest", "blob", "blob_exists", "push_blob",
        "push_manifest", "tag", "delete", "delete_blob", "copy", "referrers", "catalog",
        "push_files", "pull_files", "authorize", "images", "probe", "connect", "run", "carry",
    } <= set(_methods())  # fmt: skip


def test_the_same_properties() -> None:
    for name in ("warnings", "transport"):
        assert isinstance(getattr(BLOCKING, name), property)
        assert isinstance(getattr(AsyncClient, name), property)


def test_the_constructors_take_the_same_settings() -> None:
    blocking = described(BLOCKING.__init__)
    awaited = described(AsyncClient.__init__, skip={"backend"} | ONLY_ASYNC_SETTINGS)
    assert blocking == awaited
