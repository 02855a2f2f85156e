"""registries.conf: the rules (pure), the files, and reads through mirrors on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import regwire
from regwire import Credentials, TagNotFound
from regwire.cli import main
from regwire.drivers.registries_conf import load_registries_conf, registries_conf_files
from regwire.sansio.registries_conf import (
    AmbiguousShortName,
    BlockedRegistry,
    RegistriesConf,
    is_short_name,
)
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

EXAMPLE = """
unqualified-search-registries = ["registry.fedoraproject.org", "quay.io"]
short-name-mode = "enforcing"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"

[[registry]]
prefix = "example.com/foo"
location = "internal-registry-for-example.com/bar"
insecure = true

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "mirror.local:5000"
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "cache.local"
insecure = true

[[registry]]
prefix = "evil.example"
blocked = true

[[registry]]
prefix = "*.corp.example"
insecure = true
"""


def conf(text: str = EXAMPLE) -> RegistriesConf:
    return RegistriesConf.from_dict(tomllib.loads(text))


def test_rewrites_mirrors_blocks_as_the_man_page_says() -> None:
    c = conf()
    # the man page's example: the longest prefix wins and is replaced by its location
    [source] = c.pull_sources("example.com/foo/myimage:latest")
    assert source.name == "internal-registry-for-example.com/bar/myimage:latest"
    assert source.insecure and not source.mirror
    assert c.pull_sources("example.com/foobar/x")[0].name == "example.com/foobar/x"  # not a prefix
    by_tag = c.pull_sources("docker.io/library/alpine:3")
    assert [(s.name, s.mirror) for s in by_tag] == [
        ("cache.local/library/alpine:3", True),
        ("docker.io/library/alpine:3", False),
    ]
    digest = "sha256:" + "a" * 64
    by_digest = [s.name for s in c.pull_sources(f"docker.io/library/alpine@{digest}")]
    assert by_digest[0] == f"mirror.local:5000/library/alpine@{digest}"  # digest-only mirror
    assert c.push_source("docker.io/library/alpine:3").name == "docker.io/library/alpine:3"
    with pytest.raises(BlockedRegistry, match="blocked"):
        c.pull_sources("evil.example/x:1")
    with pytest.raises(BlockedRegistry):
        c.push_source("evil.example/x:1")
    assert c.pull_sources("a.corp.example/x")[0].insecure


def test_short_names() -> None:
    c = conf()
    assert c.expand_short_name("fedora:39") == ["registry.fedoraproject.org/fedora:39"]
    with pytest.raises(AmbiguousShortName) as ambiguous:
        c.expand_short_name("alpine")
    assert ambiguous.value.candidates == ["registry.fedoraproject.org/alpine", "quay.io/alpine"]
    permissive = conf(EXAMPLE.replace('"enforcing"', '"permissive"'))
    assert permissive.expand_short_name("alpine") == [
        "registry.fedoraproject.org/alpine",
        "quay.io/alpine",
    ]
    disabled = conf(EXAMPLE.replace('"enforcing"', '"disabled"'))
    assert disabled.expand_short_name("fedora") == [
        "registry.fedoraproject.org/fedora",
        "quay.io/fedora",
    ]  # aliases are off too
    assert RegistriesConf().expand_short_name("alpine") == ["docker.io/alpine"]
    assert is_short_name("alpine") and is_short_name("team/app:1")
    assert not is_short_name("quay.io/app") and not is_short_name("localhost/app")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('short-name-mode = "sometimes"', "short-name-mode"),
        (
            '[[registry]]\nprefix = "a.io"\n[[registry.mirror]]\npull-from-mirror = "x"\nlocation = "m"',
            "pull-from-mirror",
        ),
        ("[[registry]]\ninsecure = true", "prefix or a location"),
        ('[[registry]]\nprefix = "a.io"\n[[registry.mirror]]\ninsecure = true', "needs a location"),
    ],
)
def test_bad_settings_are_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        conf(text)


def test_files_and_drop_ins(tmp_path: Path) -> None:
    main_file = tmp_path / "registries.conf"
    main_file.write_text('unqualified-search-registries = ["a.io"]\n[aliases]\n"x" = "a.io/x"\n')
    dropins = tmp_path / "registries.conf.d"
    dropins.mkdir()
    (dropins / "10-more.conf").write_text('[aliases]\n"y" = "b.io/y"\n')
    loaded = load_registries_conf(main_file)
    assert loaded is not None
    assert loaded.aliases == {"x": "a.io/x", "y": "b.io/y"} and loaded.search == ["a.io"]
    env = {"CONTAINERS_REGISTRIES_CONF": str(main_file), "HOME": str(tmp_path)}
    assert registries_conf_files(env) == [main_file]
    (tmp_path / "bad.conf").write_text("this is = = not toml")
    with pytest.raises(ValueError, match=r"bad\.conf"):
        load_registries_conf(tmp_path / "bad.conf")
    with pytest.raises(ValueError, match=r"no such registries\.conf"):
        load_registries_conf(tmp_path / "missing.conf")


@pytest.fixture
def two() -> Iterator[tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry]]:
    def make(authority: str) -> ModelRegistry:
        return ModelRegistry(authority, scheme="http")

    upstream, up = serve_model(make)
    mirror, mir = serve_model(make)
    up.push_image("lib/app", "1", {"config": {"Labels": {"from": "upstream"}}})
    up.push_image("lib/app", "2", {"config": {"Labels": {"from": "upstream"}}})
    mir.push_image("lib/app", "1", {"config": {"Labels": {"from": "mirror"}}})
    with upstream, mirror:
        yield upstream, up, mirror, mir


def _client(conf_text: str, *hosts: str) -> regwire.Client:
    return regwire.Client(
        insecure_registries=list(hosts),
        credentials=Credentials(),
        registries_conf=conf(conf_text),
    )


def test_reads_go_to_the_mirror_first_then_the_registry(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream, _, mirror, mir = two
    u, m = upstream.authority, mirror.authority
    text = f'[[registry]]\nprefix = "{u}"\n[[registry.mirror]]\nlocation = "{m}"\n'
    with caplog.at_level(logging.DEBUG, logger="regwire"), _client(text, u, m) as c:
        assert c.image(f"{u}/lib/app:1").config.labels == {"from": "mirror"}
        assert c.image(f"{u}/lib/app:2").config.labels == {"from": "upstream"}  # not mirrored
        with pytest.raises(TagNotFound):
            c.image(f"{u}/lib/app:3")
    assert f"read from {m}/lib/app:1 (mirror)" in caplog.text
    assert not any(r.method in ("PUT", "POST", "PATCH") for r in mir.requests)


def test_writes_never_go_to_a_mirror(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
) -> None:
    upstream, _, mirror, mir = two
    u, m = upstream.authority, mirror.authority
    text = f'[[registry]]\nprefix = "{u}"\n[[registry.mirror]]\nlocation = "{m}"\n'
    with _client(text, u, m) as c:
        c.push_blob(f"{u}/lib/app", b"new bytes")
    assert not any(r.method in ("POST", "PUT") for r in mir.requests)


def test_a_rewrite_a_blocked_prefix_and_an_ambiguous_alias_through_the_command(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream, _, mirror, _ = two
    u, m = upstream.authority, mirror.authority
    path = tmp_path / "registries.conf"
    path.write_text(
        f'unqualified-search-registries = ["{u}", "{m}"]\n'
        f'[aliases]\n"app" = "{u}/lib/app"\n'
        f'[[registry]]\nprefix = "old.example/lib"\nlocation = "{u}/lib"\n'
        f'[[registry]]\nprefix = "{m}/lib"\nblocked = true\n'
    )
    common = ["--registries-conf", str(path), "--insecure", "--creds", ":"]
    assert main(["tags", "old.example/lib/app", *common]) == 0  # rewritten to the upstream
    assert capsys.readouterr().out.split() == ["1", "2"]
    assert main(["tags", "app", *common]) == 0  # the alias
    capsys.readouterr()
    assert main(["tags", f"{m}/lib/app", *common]) == 6  # blocked
    assert "blocked by registries.conf" in capsys.readouterr().err
    assert main(["tags", "lib/app", *common]) == 2  # two search registries, enforcing
    assert "could be any of" in capsys.readouterr().err


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_every_client_reads_through_mirrors(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry], driver: str
) -> None:
    from tests.harness.drivers import run_with

    upstream, _, mirror, _ = two
    u, m = upstream.authority, mirror.authority
    text = f'[[registry]]\nprefix = "{u}"\n[[registry.mirror]]\nlocation = "{m}"\n'

    async def scenario(c: Any) -> tuple[Any, Any, list[str]]:
        mirrored = await c.image(f"{u}/lib/app:1")
        upstream_only = await c.image(f"{u}/lib/app:2")
        return mirrored.config.labels, upstream_only.config.labels, await c.tags(f"{u}/lib/app")

    mirrored, upstream_only, tags = run_with(
        driver,
        scenario,
        insecure_registries=[u, m],
        credentials=Credentials(),
        registries_conf=conf(text),
    )
    assert mirrored == {"from": "mirror"} and upstream_only == {"from": "upstream"}
    assert tags == ["1"]  # the mirror answered the tag list


def test_inspect_reads_through_the_mirror(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    upstream, _, mirror, _ = two
    u, m = upstream.authority, mirror.authority
    path = tmp_path / "registries.conf"
    path.write_text(f'[[registry]]\nprefix = "{u}"\n[[registry.mirror]]\nlocation = "{m}"\n')
    status = main(
        ["inspect", f"{u}/lib/app:1", "--registries-conf", str(path), "--insecure", "--creds", ":"]
    )
    assert status == 0
    assert json.loads(capsys.readouterr().out)["Labels"] == {"from": "mirror"}
