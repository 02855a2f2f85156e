"""Mirror-credential scenarios: registries.conf sends a client to hosts its caller did not
name (a mirror, a rewritten location), and a password must never follow it there.

Each scenario serves two model registries on loopback, an upstream that knows the caller's
account (alice) and another host that asks for a password too (Basic, or Bearer through a
realm of its own), so that a client holding alice's would send it if it were going to. The
check is on the wire: no request to the other host carries alice's password, whatever the
call's outcome. ``python -m benchmarks.hostile`` prints them after the registry scenarios.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from regwire import Credentials, RegistryError
from regwire.sansio.registries_conf import RegistriesConf
from regwire.testing import ModelRegistry
from regwire.testing.server import serve_model
from tests.harness.drivers import run_with

__all__ = ["MIRROR_SCENARIOS", "MirrorOutcome", "MirrorScenario", "run_mirror_scenario"]

ALICE = Credentials("alice", "secret")
_SECRETS = ("secret", base64.b64encode(b"alice:secret").decode())


@dataclass(frozen=True)
class MirrorScenario:
    name: str
    conf: str  # registries.conf, with {u} (the upstream) and {m} (the other host)
    call: Callable[[Any, str, str], Awaitable[Any]]  # (client, upstream, other host)
    expect: str  # "ok" or an error class's name
    other_auth: str = "basic"  # how the other host asks for a password: "basic" or "bearer"
    writes_elsewhere: bool = False  # whether the other host may receive writes


@dataclass(frozen=True)
class MirrorOutcome:
    result: str
    problems: tuple[str, ...]
    seconds: float


async def _read(client: Any, u: str, m: str) -> Any:
    return (await client.image(f"{u}/team/app:1")).digest


async def _read_rewritten(client: Any, u: str, m: str) -> Any:
    return (await client.manifest("old.example/team/app:1")).digest


async def _push(client: Any, u: str, m: str) -> Any:
    return await client.push_blob(f"{u}/team/app", b"new bytes")


async def _copy(client: Any, u: str, m: str) -> Any:
    return await client.copy(f"{u}/team/app:1", f"{u}/copies/app:1")


async def _catalog_blocked(client: Any, u: str, m: str) -> Any:
    return await client.catalog(m)


MIRROR = '[[registry]]\nprefix = "{u}"\n[[registry.mirror]]\nlocation = "{m}"\n'
REWRITE = '[[registry]]\nprefix = "old.example/team"\nlocation = "{m}/team"\n'
BLOCKED = '[[registry]]\nprefix = "{m}"\nblocked = true\n'

MIRROR_SCENARIOS = (
    MirrorScenario("mirror asks Basic: read falls back, no password there", MIRROR, _read, "ok"),
    MirrorScenario(
        "mirror asks Bearer (its own realm): no password to the realm",
        MIRROR,
        _read,
        "ok",
        other_auth="bearer",
    ),
    MirrorScenario(
        "location rewritten to another host: no password there",
        REWRITE,
        _read_rewritten,
        "AuthenticationError",
    ),
    MirrorScenario("a push never goes to a mirror", MIRROR, _push, "ok"),
    MirrorScenario("a copy's source read through a mirror", MIRROR, _copy, "ok"),
    MirrorScenario(
        "a blocked host: refused before any request", BLOCKED, _catalog_blocked, "BlockedRegistry"
    ),
)


def run_mirror_scenario(scenario: MirrorScenario, driver: str) -> MirrorOutcome:
    """Run ``scenario`` through ``driver``; problems name every breach seen on the wire."""

    def upstream_model(authority: str) -> ModelRegistry:
        return ModelRegistry(authority, scheme="http", auth="basic", users={"alice": "secret"})

    def other_model(authority: str) -> ModelRegistry:
        if scenario.other_auth == "bearer":
            return ModelRegistry(
                authority,
                scheme="http",
                auth="bearer",
                realm_host=authority,
                users={"bob": "hunter2"},
                anonymous=False,
            )
        return ModelRegistry(authority, scheme="http", auth="basic", users={"bob": "hunter2"})

    upstream, up = serve_model(upstream_model)
    other, elsewhere = serve_model(other_model)
    up.push_image("team/app", "1", {"config": {"Labels": {"from": "upstream"}}})
    elsewhere.push_image("team/app", "1", {"config": {"Labels": {"from": "elsewhere"}}})
    u, m = upstream.authority, other.authority
    conf = RegistriesConf.from_dict(_toml(scenario.conf.format(u=u, m=m)))
    started = time.monotonic()
    problems: list[str] = []
    with upstream, other:
        try:
            run_with(
                driver,
                lambda client: scenario.call(client, u, m),
                insecure_registries=[u, m],
                credentials=ALICE,
                registries_conf=conf,
                timeout=2.0,
            )
            result = "ok"
        except RegistryError as exc:
            result = type(exc).__name__
    seconds = time.monotonic() - started
    if result != scenario.expect:
        problems.append(f"expected {scenario.expect}, got {result}")
    for request in elsewhere.requests:
        text = " ".join(f"{k}: {v}" for k, v in request.headers) + " " + request.url
        if any(secret in text for secret in _SECRETS):
            problems.append(
                f"alice's password reached the other host: {request.method} {request.url}"
            )
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not scenario.writes_elsewhere:
            problems.append(f"a write reached the other host: {request.method} {request.url}")
    if scenario.expect == "BlockedRegistry" and elsewhere.requests:
        problems.append(f"{len(elsewhere.requests)} requests reached a blocked host")
    return MirrorOutcome(result, tuple(problems), seconds)


def _toml(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)
