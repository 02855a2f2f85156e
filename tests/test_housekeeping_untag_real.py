"""untag against the real docker-registry (distribution 2.8, which answers 400 DIGEST_INVALID to
a tag DELETE): the tag goes, and ``skopeo inspect`` still finds the manifest by digest and by
its other tag; with deletes disabled, untag refuses and changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regwire import Client
from regwire.sansio.auth import Credentials
from regwire.sansio.errors import RegistryError, Unsupported
from tests.harness.distribution import (
    PASSWORD,
    USER,
    RealRegistry,
    image_manifest,
    write_layout,
)
from tests.harness.drivers import DRIVERS, run_with


def _start(root: Path, mode: Any, *, deletes: bool) -> RealRegistry:
    real = RealRegistry(root / "server", mode, deletes=deletes)
    try:
        layout = root / "layout"
        write_layout(layout, {"one": image_manifest(layout, seed="untag", config={})})
        for driver in DRIVERS:
            for tag in ("keep", "gone"):
                real.push(layout, f"w/{driver}:{tag}", tag="one")
    except BaseException:
        real.close()
        raise
    return real


@pytest.fixture(scope="module", params=["none", "token"])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealRegistry]:
    real = _start(tmp_path_factory.mktemp(f"untag-{request.param}"), request.param, deletes=True)
    try:
        yield real
    finally:
        real.close()


def _kwargs(real: RealRegistry) -> dict[str, Any]:
    creds = Credentials() if real.mode == "none" else Credentials(USER, PASSWORD)
    return {"insecure_registries": [real.authority], "credentials": creds, "timeout": 10}


def _untag(real: RealRegistry, driver: str, ref: str) -> Any:
    async def scenario(client: Any) -> Any:
        try:
            return await client.untag(ref)
        except RegistryError as exc:
            return exc

    return run_with(driver, scenario, **_kwargs(real))


@pytest.mark.parametrize("driver", DRIVERS)
def test_untag_keeps_the_manifest_and_the_other_tag(registry: RealRegistry, driver: str) -> None:
    repository = f"w/{driver}"
    digest = registry.inspect(f"{repository}:gone")["Digest"]
    assert sorted(registry.list_tags(repository)) == ["gone", "keep"]
    answer = _untag(registry, driver, f"{registry.authority}/{repository}:gone")
    assert answer == digest
    assert registry.list_tags(repository) == ["keep"]
    assert registry.inspect(f"{repository}@{digest}")["Digest"] == digest
    assert registry.inspect(f"{repository}:keep")["Digest"] == digest
    with pytest.raises(RuntimeError):  # the tag is really gone
        registry.inspect(f"{repository}:gone")


def test_untag_refuses_where_deletes_are_disabled(tmp_path: Path) -> None:
    real = _start(tmp_path, "none", deletes=False)
    try:
        digest = real.inspect("w/sync:gone")["Digest"]
        answer = _untag(real, "sync", f"{real.authority}/w/sync:gone")
        assert isinstance(answer, Unsupported) and "deletes" in str(answer)
        assert sorted(real.list_tags("w/sync")) == ["gone", "keep"]
        assert real.inspect("w/sync:gone")["Digest"] == digest
    finally:
        real.close()


def test_the_command_against_the_real_registry(registry: RealRegistry) -> None:
    ref = f"{registry.authority}/w/sync:keep"
    creds = [] if registry.mode == "none" else ["--creds", f"{USER}:{PASSWORD}"]
    with Client(**_kwargs(registry)) as client:
        client.tag(ref, "cli")
    digest = registry.inspect("w/sync:cli")["Digest"]
    done = subprocess.run(
        [sys.executable, "-m", "regwire", "untag", f"{registry.authority}/w/sync:cli", "--insecure",
         *creds],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == digest
    assert "cli" not in registry.list_tags("w/sync")
    assert registry.inspect(f"w/sync@{digest}")["Digest"] == digest
