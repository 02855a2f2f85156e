"""regwire sync: the plan from skopeo sync's YAML or a repository, sharded, and run against
loopback registries (one with basic auth, one plain) into a registry and into layouts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire.cli import main
from regwire.drivers.layout import open_layout
from regwire.mirroring import Item, destination, parse_shard, parse_sync_file, plan
from regwire.sansio.reference import Reference
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model


def test_a_sync_file_reads_as_skopeo_reads_it() -> None:
    document = {
        "registry.example.com": {
            "images": {"busybox": [], "redis": ["1.0", "2.0", "sha256:" + "0" * 64]},
            "images-by-tag-regex": {"nginx": r"1\.13\.[12]-alpine-perl$"},  # searched
            "images-by-semver": {"alpine": ">= 3.12"},
            "credentials": {"username": "john", "password": "this is a secret"},
            "tls-verify": True,
            "cert-dir": "/home/john/certs",
        },
        "docker.io": {"tls-verify": False, "images": {"alpine": ["3.20"]}},
    }
    first, hub = parse_sync_file(document)
    assert first.credentials is not None and first.credentials.password == "this is a secret"
    assert (first.tls_verify, first.cert_dir, hub.tls_verify) == (True, "/home/john/certs", False)
    busybox, redis, nginx, alpine = first.wanted
    assert busybox.needs_listing and busybox.select(["b", "a"]) == ["a", "b"]
    assert redis.select(["9"]) == ["1.0", "2.0", "sha256:" + "0" * 64]
    tags = ["1.13.1-alpine-perl", "1.13.3-alpine-perl", "x1.13.2-alpine-perl"]
    assert nginx.select(tags) == ["1.13.1-alpine-perl", "x1.13.2-alpine-perl"]  # searched
    assert alpine.select(["3.11", "3.12.1", "3.20", "edge"]) == ["3.12.1", "3.20"]
    assert hub.wanted[0].reference.repository == "library/alpine"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1], "must be a mapping"),
        ({"r.io": {"image": {}}}, "unknown key 'image'"),
        ({"r.io": {"images": {"a": "latest"}}}, "a list of tags"),
        ({"r.io": {"images": {"a": ["bad tag"]}}}, "tag"),
        ({"r.io": {"images": {"a:1": []}}}, "without a tag"),
        ({"r.io": {"images-by-tag-regex": {"a": "("}}}, "images-by-tag-regex: a"),
        ({"r.io": {"images-by-semver": {"a": ">= x.1 <"}}}, "images-by-semver: a"),
        ({"r.io": {"tls-verify": "no"}}, "tls-verify"),
        ({"r.io": {"credentials": {"username": 1}}}, "strings"),
    ],
)
def test_mistakes_in_a_sync_file_are_named_before_anything_is_copied(
    document: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sync_file(document, "sync.yml")


def test_destinations_are_named_as_skopeo_names_them() -> None:
    ref = Reference.parse("registry.example.com/repo/busybox")
    assert (
        destination(ref, "1", "docker", "local.lan/mirror/", False) == "local.lan/mirror/busybox:1"
    )
    assert (
        destination(ref, "1", "docker", "local.lan", True)
        == "local.lan/registry.example.com/repo/busybox:1"
    )
    digest = "sha256:" + "a" * 64
    assert destination(ref, digest, "docker", "local.lan", False) == "local.lan/busybox"
    assert destination(ref, "1", "oci", "/srv/layouts", False) == "oci:/srv/layouts/busybox:1"


@given(
    st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from("xyz")), max_size=30),
    st.integers(1, 7),
)
def test_shards_split_the_plan_exactly_whatever_the_order_it_was_found_in(
    pairs: list[tuple[str, str]], n: int
) -> None:
    items = [Item(f"r/{a}:{b}", f"d/{a}:{b}") for a, b in pairs]
    ordered = plan(items)
    assert ordered == plan(list(reversed(items)))  # deterministic
    shards = [ordered[k::n] for k in range(n)]
    assert sorted(i for s in shards for i in s) == ordered  # every image once
    assert parse_shard(f"{n - 1}/{n}") == (n - 1, n)


@pytest.mark.parametrize("text", ["1/1", "a/b", "-1/2", "2", "0/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="K/N"):
        parse_shard(text)


# -- the command, over loopback -----------------------------------------------------------------


@pytest.fixture
def registries() -> Iterator[tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry]]:
    def make_src(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http", auth="basic", users={"john": "secret"})
        for tag in ("1.0.0", "1.1.0", "2.0.0", "edge"):
            m.push_image("team/app", tag, {"config": {"Labels": {"v": tag}}}, [tag.encode() * 99])
        m.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
        return m

    a, src = serve_model(make_src)
    b, dst = serve_model(lambda host: ModelRegistry(host, scheme="http"))
    try:
        yield a, src, b, dst
    finally:
        a.close()
        b.close()


def write_sync_file(path: Path, authority: str) -> Path:
    path.write_text(
        f"""
{authority}:
  tls-verify: false
  credentials:
    username: john
    password: secret
  images:
    team/multi: []
  images-by-semver:
    team/app: ">= 1.0 < 2"
"""
    )
    return path


def test_sync_from_a_file_to_a_registry_then_again_is_up_to_date(
    registries: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, src, b, dst = registries
    config = write_sync_file(tmp_path / "sync.yml", a.authority)
    argv = ["sync", "--src", "yaml", str(config), "--dest", "docker", f"{b.authority}/mirror"]
    argv += ["--dest-tls-verify=false"]
    assert main([*argv, "--dry-run"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned == [
        {
            "Source": f"{a.authority}/team/app:1.0.0",
            "Destination": f"{b.authority}/mirror/app:1.0.0",
        },
        {
            "Source": f"{a.authority}/team/app:1.1.0",
            "Destination": f"{b.authority}/mirror/app:1.1.0",
        },
        {"Source": f"{a.authority}/team/multi:1", "Destination": f"{b.authority}/mirror/multi:1"},
    ]
    assert not dst.repositories  # a dry run copies nothing
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["Destination"] for r in out["Copied"]] == [p["Destination"] for p in planned]
    for tag in ("1.0.0", "1.1.0"):
        assert dst.repositories["mirror/app"].tags[tag] == src.repositories["team/app"].tags[tag]
    assert dst.repositories["mirror/multi"].tags["1"] == src.repositories["team/multi"].tags["1"]
    assert "2.0.0" not in dst.repositories["mirror/app"].tags
    assert not any(r.header("Authorization") for r in dst.requests)  # john's password stays
    before = len(dst.requests)
    assert main(argv) == 0
    captured = capsys.readouterr()
    again = json.loads(captured.out)
    assert again["Copied"] == [] and len(again["UpToDate"]) == 3
    assert "0 copied, 3 already up to date, 0 failed, of 3 images" in captured.err
    assert {r.method for r in dst.requests[before:]} == {"HEAD"}  # asked, nothing written


def test_shards_together_copy_the_plan_once(
    registries: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, src, b, dst = registries
    config = write_sync_file(tmp_path / "sync.yml", a.authority)
    argv = ["sync", "--src", "yaml", str(config), "--dest", "docker", b.authority]
    argv += ["--dest-tls-verify=false"]
    copied = []
    for k in range(2):
        assert main([*argv, "--shard", f"{k}/2"]) == 0
        copied += [r["Destination"] for r in json.loads(capsys.readouterr().out)["Copied"]]
    assert sorted(copied) == [
        f"{b.authority}/app:1.0.0",
        f"{b.authority}/app:1.1.0",
        f"{b.authority}/multi:1",
    ]
    assert dst.repositories["app"].tags == {
        t: src.repositories["team/app"].tags[t] for t in ("1.0.0", "1.1.0")
    }
    assert main(argv) == 0  # everything there now
    out = json.loads(capsys.readouterr().out)
    assert out["Copied"] == [] and len(out["UpToDate"]) == 3


def test_sync_a_repository_into_layouts_keeps_going_past_a_failure(
    registries: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, src, _, _ = registries
    argv = ["sync", "--src", "docker", f"{a.authority}/team/app", "--dest", "oci", str(tmp_path)]
    argv += ["--src-tls-verify=false", "--src-creds", "john:secret"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["Copied"]) == 4
    layout = open_layout(tmp_path / "app")
    assert layout.tags() == ["1.0.0", "1.1.0", "2.0.0", "edge"]
    for tag in layout.tags():
        assert layout.resolve(tag).digest == src.repositories["team/app"].tags[tag]
    # A file naming a repository that is not there: the rest is copied, the exit says so.
    config = tmp_path / "bad.yml"
    config.write_text(
        f"{a.authority}:\n  tls-verify: false\n  credentials: {{username: john, password: secret}}\n"
        "  images:\n    team/absent: ['1']\n    team/multi: ['1']\n"
    )
    code = main(
        ["sync", "--src", "yaml", str(config), "--dest", "oci", str(tmp_path), "--keep-going"]
    )
    captured = capsys.readouterr()
    assert code == 3
    out = json.loads(captured.out)
    assert [f["Source"] for f in out["Failed"]] == [f"{a.authority}/team/absent:1"]
    assert [c["Destination"] for c in out["Copied"]] == [f"oci:{tmp_path}/multi:1"]
    assert "1 copied, 0 already up to date, 1 failed, of 2 images" in captured.err
    # Without --keep-going, nothing new starts after the failure.
    code = main(["sync", "--src", "yaml", str(config), "--dest", "oci", str(tmp_path), "-j", "1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 3 and out["Copied"] == [] and out["UpToDate"] == []
    assert out["NotAttempted"] == 1


def test_the_documented_sync_file_is_a_valid_sync_file() -> None:
    import yaml

    block = (Path(__file__).parent.parent / "docs" / "examples" / "sync.yml").read_text()
    sources = parse_sync_file(yaml.safe_load(block), "docs/examples/sync.yml")
    assert [s.registry for s in sources] == ["docker.io", "quay.io", "ghcr.io"]
    exporter = sources[1].wanted[0]
    assert exporter.select(["v1.8.2", "v1.10.0", "v1.9.1-rc"]) == ["v1.8.2"]
    nginx = sources[0].wanted[2]
    assert nginx.select(["1.25.5", "1.26.2", "1.27.0", "1.28.0"]) == ["1.26.2", "1.27.0"]
