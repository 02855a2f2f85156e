"""registries.conf and credentials (issue 25, items 1, 2 and two of item 6).

A caller's credentials (``Client(credentials=...)``, ``--creds``, ``--src-creds``) go to the
hosts the caller named and nowhere else: never to a mirror, never to a location registries.conf
rewrites a name to on another host. Every command and client method that names a registry
applies the same registries.conf: blocked names are refused before any request, short names
resolve the same way, writes go to the rewritten location with its ``insecure``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import regwire
from regwire import Credentials
from regwire.cli import main
from regwire.sansio.registries_conf import BlockedRegistry, RegistriesConf
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import run_with

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ALICE = Credentials("alice", "secret")
ALICE_HEADER = "Basic " + base64.b64encode(b"alice:secret").decode()

Pair = tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry]


def conf(text: str) -> RegistriesConf:
    return RegistriesConf.from_dict(tomllib.loads(text))


def tags(model: ModelRegistry, repository: str) -> list[str]:
    repo = model.repositories.get(repository)
    return sorted(repo.tags) if repo else []


def carried_alice(model: ModelRegistry) -> bool:
    """Whether any request ``model`` received carried alice's password."""
    return any(
        name.lower() == "authorization" and value == ALICE_HEADER
        for request in model.requests
        for name, value in request.headers
    )


@pytest.fixture
def two() -> Iterator[Pair]:
    """An upstream that knows alice, and a mirror (another host) that asks for a password
    too, so that a client holding alice's would send it there if it were going to."""

    def upstream_model(authority: str) -> ModelRegistry:
        return ModelRegistry(authority, scheme="http", auth="basic", users={"alice": "secret"})

    def mirror_model(authority: str) -> ModelRegistry:
        return ModelRegistry(authority, scheme="http", auth="basic", users={"bob": "hunter2"})

    upstream, up = serve_model(upstream_model)
    mirror, mir = serve_model(mirror_model)
    up.push_image("team/app", "1", {"config": {"Labels": {"from": "upstream"}}})
    mir.push_image("team/app", "1", {"config": {"Labels": {"from": "mirror"}}})
    with upstream, mirror:
        yield upstream, up, mirror, mir


def mirror_conf(u: str, m: str) -> str:
    return f'[[registry]]\nprefix = "{u}"\n[[registry.mirror]]\nlocation = "{m}"\n'


# -- item 1: the caller's credentials never reach a mirror or a rewritten location ---------


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_caller_credentials_never_reach_a_mirror(two: Pair, driver: str) -> None:
    upstream, up, mirror, mir = two
    u, m = upstream.authority, mirror.authority

    async def scenario(c: Any) -> Any:
        return (await c.image(f"{u}/team/app:1")).config.labels

    labels = run_with(
        driver,
        scenario,
        insecure_registries=[u, m],
        credentials=ALICE,
        registries_conf=conf(mirror_conf(u, m)),
    )
    assert labels == {"from": "upstream"}  # the mirror refused us: no account of ours there
    assert mir.requests, "the mirror was tried first"
    assert not carried_alice(mir)
    assert carried_alice(up)


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_a_mirror_gets_what_the_auth_file_holds_for_its_own_host(
    two: Pair, driver: str, tmp_path: Path
) -> None:
    upstream, _, mirror, mir = two
    u, m = upstream.authority, mirror.authority
    auth = tmp_path / "auth.json"
    bob = base64.b64encode(b"bob:hunter2").decode()
    auth.write_text(json.dumps({"auths": {m: {"auth": bob}}}))

    async def scenario(c: Any) -> Any:
        return (await c.image(f"{u}/team/app:1")).config.labels

    labels = run_with(
        driver,
        scenario,
        insecure_registries=[u, m],
        credentials=ALICE,
        auth_file=str(auth),
        registries_conf=conf(mirror_conf(u, m)),
    )
    assert labels == {"from": "mirror"}
    assert not carried_alice(mir)


def test_creds_flag_never_reaches_a_mirror_or_a_location_elsewhere(
    two: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream, up, mirror, mir = two
    u, m = upstream.authority, mirror.authority
    path = tmp_path / "registries.conf"
    path.write_text(
        mirror_conf(u, m) + f'[[registry]]\nprefix = "old.example/team"\nlocation = "{m}/team"\n'
    )
    common = ["--registries-conf", str(path), "--insecure", "--creds", "alice:secret"]
    assert main(["manifest", f"{u}/team/app:1", *common]) == 0
    capsys.readouterr()
    assert not carried_alice(mir) and carried_alice(up)
    # A name rewritten to the mirror's host: --creds was given for old.example, not for it.
    assert main(["manifest", "old.example/team/app:1", *common]) == 4
    assert not carried_alice(mir)


def test_copy_credentials_reach_both_named_ends_and_no_mirror(two: Pair) -> None:
    upstream, up, mirror, mir = two
    u, m = upstream.authority, mirror.authority
    with regwire.Client(
        insecure_registries=[u, m], credentials=ALICE, registries_conf=conf(mirror_conf(u, m))
    ) as client:
        client.copy(f"{u}/team/app:1", f"{u}/copies/app:1")
    assert tags(up, "copies/app") == ["1"]
    assert not carried_alice(mir)


# -- item 2: copy, sync and catalog apply registries.conf --------------------------------


@pytest.fixture
def plain() -> Iterator[Pair]:
    def make(authority: str) -> ModelRegistry:
        return ModelRegistry(authority, scheme="http")

    first, one = serve_model(make)
    second, other = serve_model(make)
    one.push_image("team/app", "v1", {"config": {"Labels": {"from": "first"}}})
    with first, second:
        yield first, one, second, other


def test_blocked_registries_are_refused_by_copy_sync_and_catalog_before_any_request(
    plain: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, one, second, other = plain
    a, b = first.authority, second.authority
    path = tmp_path / "registries.conf"
    path.write_text(f'[[registry]]\nprefix = "{b}"\nblocked = true\n')
    common = ["--registries-conf", str(path), "--insecure"]
    assert main(["copy", f"{a}/team/app:v1", f"{b}/team/app:v1", *common]) == 6
    assert "blocked by registries.conf" in capsys.readouterr().err
    assert main(["copy", f"{b}/team/app:v1", f"{a}/x/app:v1", *common]) == 6
    assert main(["catalog", b, *common]) == 6
    assert main(["push", f"{b}/team/art:1", str(path), *common]) == 6
    sync = ["sync", "--src", "docker", "--dest", "docker", f"{a}/team/app:v1", b, *common]
    assert main(sync) == 6
    capsys.readouterr()
    assert other.requests == []
    assert not any(r.method in ("PUT", "POST", "PATCH") for r in one.requests)


def test_library_copy_refuses_a_blocked_destination(plain: Pair) -> None:
    first, _, second, other = plain
    a, b = first.authority, second.authority
    with regwire.Client(
        insecure_registries=[a, b],
        registries_conf=conf(f'[[registry]]\nprefix = "{b}/team"\nblocked = true\n'),
    ) as client:
        with pytest.raises(BlockedRegistry):
            client.copy(f"{a}/team/app:v1", f"{b}/team/app:v1")
        with pytest.raises(BlockedRegistry):
            client.push_blob(f"{b}/team/app", b"x")
        client.copy(f"{a}/team/app:v1", f"{b}/other/app:v1")  # another namespace: fine
    assert tags(other, "other/app") == ["v1"]
    assert not tags(other, "team/app")


def test_copy_resolves_short_names_as_reads_do(
    plain: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, one, second, other = plain
    a, b = first.authority, second.authority
    path = tmp_path / "registries.conf"
    path.write_text(f'unqualified-search-registries = ["{a}"]\nshort-name-mode = "enforcing"\n')
    common = ["--registries-conf", str(path), "--insecure"]
    assert main(["digest", "team/app:v1", *common]) == 0
    digest = capsys.readouterr().out.strip()
    assert main(["copy", "team/app:v1", f"{b}/mirrored/app:v1", *common]) == 0
    assert json.loads(capsys.readouterr().out)["Digest"] == digest
    assert tags(other, "mirrored/app") == ["v1"]
    # As a destination, a short name means the one search registry.
    assert main(["copy", f"{b}/mirrored/app:v1", "team/again:v1", *common]) == 0
    capsys.readouterr()
    assert tags(one, "team/again") == ["v1"]
    # Two search registries: a destination short name is a usage error, before any request.
    path.write_text(f'unqualified-search-registries = ["{a}", "{b}"]\n')
    before = len(one.requests), len(other.requests)
    assert main(["copy", f"{b}/mirrored/app:v1", "team/third:v1", *common]) == 2
    assert "could be any of" in capsys.readouterr().err
    assert (len(one.requests), len(other.requests)) == before


def test_the_source_of_a_copy_is_read_through_its_mirror(plain: Pair) -> None:
    first, _, second, other = plain
    a, b = first.authority, second.authority
    other.push_image("team/app", "v1", {"config": {"Labels": {"from": "second"}}})
    with regwire.Client(insecure_registries=[a, b], registries_conf=conf(mirror_conf(a, b))) as c:
        digest = c.copy(f"{a}/team/app:v1", f"{a}/copied/app:v1")
    assert digest == other.repositories["team/app"].tags["v1"]  # the mirror's image
    assert not any(r.method in ("PUT", "POST", "PATCH") for r in other.requests)


def test_writes_to_a_rewritten_insecure_location_use_plain_http(
    plain: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, one, _, _ = plain
    a = first.authority
    path = tmp_path / "registries.conf"
    path.write_text(
        f'[[registry]]\nprefix = "internal.example/team"\nlocation = "{a}/team"\ninsecure = true\n'
    )
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    common = ["--registries-conf", str(path)]  # no --insecure: registries.conf says it
    assert main(["push", "internal.example/team/notes:1", str(artifact), *common]) == 0
    capsys.readouterr()
    assert tags(one, "team/notes") == ["1"]
    assert main(["tag", "internal.example/team/notes:1", "2", *common]) == 0
    capsys.readouterr()
    assert tags(one, "team/notes") == ["1", "2"]
    status = main(
        ["copy", "internal.example/team/notes:1", "internal.example/team/copy:1", *common]
    )
    assert status == 0
    assert tags(one, "team/copy") == ["1"]


# -- item 6: account spellings, sync collisions, "up to date" ------------------------------


def test_two_accounts_for_one_host_in_two_spellings_are_a_usage_error(
    plain: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    first, one, _, _ = plain
    a = first.authority
    host, port = a.split(":")
    upper = f"LOCALHOST:{port}" if host == "localhost" else f"{host}:{port}"
    status = main(
        [
            "copy",
            f"reg.example:{port}/team/app:v1",
            f"REG.example:{port}/team/b:v1",
            "--src-creds",
            "alice:one",
            "--dest-creds",
            "bob:two",
        ]
    )
    assert status == 2
    assert "differ for one registry" in capsys.readouterr().err
    assert upper  # the spelling check runs before any request: nothing to serve
    assert one.requests == []


def test_sync_refuses_two_sources_onto_one_layout_folder(
    plain: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, one, _, _ = plain
    a = first.authority
    one.push_image("team/app", "good", {"config": {"Labels": {"who": "team"}}})
    one.push_image("other/app", "good", {"config": {"Labels": {"who": "other"}}})
    spec = tmp_path / "sync.yaml"
    spec.write_text(
        f"{a}:\n  tls-verify: false\n  images:\n    team/app: [good]\n    other/app: [good]\n"
    )
    out = tmp_path / "out"
    status = main(["sync", "--src", "yaml", "--dest", "oci", str(spec), str(out)])
    assert status == 2
    assert "pass --scoped" in capsys.readouterr().err
    assert not out.exists()
    status = main(["sync", "--src", "yaml", "--dest", "oci", "--scoped", str(spec), str(out)])
    assert status == 0, capsys.readouterr().err


def test_sync_does_not_call_a_layout_missing_a_layer_up_to_date(
    plain: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, one, _, _ = plain
    a = first.authority
    args = ["sync", "--src", "docker", "--dest", "oci", "--insecure", f"{a}/team/app:v1"]
    out = tmp_path / "out"
    assert main([*args, str(out)]) == 0
    assert len(json.loads(capsys.readouterr().out)["Copied"]) == 1
    assert main([*args, str(out)]) == 0
    assert len(json.loads(capsys.readouterr().out)["UpToDate"]) == 1
    (layout,) = list(out.rglob("oci-layout"))
    repo = one.repositories["team/app"]
    layer = json.loads(repo.manifests[repo.tags["v1"]][1])["layers"][0]["digest"]
    (layout.parent / "blobs" / "sha256" / layer.split(":")[1]).unlink()
    assert main([*args, str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["Copied"]) == 1 and not report["UpToDate"]
    assert (layout.parent / "blobs" / "sha256" / layer.split(":")[1]).is_file()


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_the_mirror_credential_scenarios_of_the_hostile_benchmark(driver: str) -> None:
    from benchmarks.hostile_mirrors import MIRROR_SCENARIOS, run_mirror_scenario

    for scenario in MIRROR_SCENARIOS:
        outcome = run_mirror_scenario(scenario, driver)
        assert outcome.problems == (), scenario.name


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_accounts_go_each_to_its_own_host(driver: str) -> None:
    """``accounts=``: a copy between two accounts, each password at home."""

    def basic(authority: str, user: str, password: str) -> ModelRegistry:
        return ModelRegistry(authority, scheme="http", auth="basic", users={user: password})

    src_server, src = serve_model(lambda a: basic(a, "alice", "secret"))
    dst_server, dst = serve_model(lambda a: basic(a, "bob", "hunter2"))
    src.push_image("team/app", "1", {"config": {}})
    s, d = src_server.authority, dst_server.authority

    async def scenario(c: Any) -> Any:
        return await c.copy(f"{s}/team/app:1", f"{d}/copy/app:1")

    with src_server, dst_server:
        run_with(
            driver,
            scenario,
            insecure_registries=[s, d],
            accounts={s: ALICE, d.upper(): Credentials("bob", "hunter2")},
        )
    assert tags(dst, "copy/app") == ["1"]
    assert not carried_alice(dst)
    with pytest.raises(ValueError, match="two different credentials"):
        regwire.Client(accounts={"reg.example": ALICE, "REG.example": Credentials("b", "c")})


def test_login_to_a_blocked_registry_is_refused_before_any_request(
    plain: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    first, one, _, _ = plain
    a = first.authority
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    path = tmp_path / "registries.conf"
    path.write_text(f'[[registry]]\nprefix = "{a}"\nblocked = true\n')
    status = main(
        ["login", a, "-u", "alice", "-p", "secret", "--insecure", "--registries-conf", str(path)]
    )
    assert status == 6
    assert "blocked by registries.conf" in capsys.readouterr().err
    assert one.requests == []
    assert not (tmp_path / "docker").exists()
