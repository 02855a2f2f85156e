"""Editing images, the pure core: what the new documents say (hypothesis over the decisions),
and the edits carried over model registries and in-memory layouts through ``drive``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio import Registry, drive
from regwire.sansio.digests import digest_of
from regwire.sansio.edit_documents import (
    DOCKER_LAYER_GZIP,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    EditRefused,
    Mutation,
    append_to_config,
    build_index,
    convert_manifest,
    format_time,
    index_entry,
    index_type,
    layer_media_type,
    mutate_config,
    parse_command,
    parse_pairs,
    parse_time_option,
    platform_of,
    rebase_config,
    rebase_layers,
    remove_entries,
    when,
)
from regwire.sansio.editing import NewLayer, Selection, append, convert, index_create, mutate
from regwire.sansio.layout import LayoutEnd
from regwire.sansio.manifests import (
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
    Platform,
    decode_manifest,
)
from regwire.sansio.platforms import normalize, select_platform
from regwire.testing import FakeNetwork, ModelRegistry, memory_layout

FAST = settings(max_examples=60, deadline=None)

keys = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="="),
    min_size=1,
    max_size=12,
)
values = st.text(max_size=20)
words = st.lists(st.text(max_size=10), max_size=4).map(tuple)
ports = st.integers(1, 65535).map(str)
times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)


def base_config(**extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-05-01T12:00:00Z",
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"], "Labels": {"old": "1"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
        "history": [{"created_by": "base"}],
    }
    document.update(extra)
    return document


mutations = st.builds(
    Mutation,
    labels=st.lists(st.tuples(keys, values), max_size=4).map(tuple),
    annotations=st.just(()),
    env=st.lists(st.tuples(keys, values), max_size=4).map(tuple),
    entrypoint=st.none() | words,
    cmd=st.none() | words,
    workdir=st.none() | st.text(max_size=10),
    user=st.none() | st.text(max_size=10),
    exposed_ports=st.lists(ports, max_size=3).map(tuple),
    created=st.none() | times,
)


@FAST
@given(mutations)
def test_mutate_then_read_back_gives_every_field_set_and_keeps_the_rest(m: Mutation) -> None:
    raw = json.dumps(base_config()).encode()
    new = json.loads(mutate_config(raw, m, "test"))
    config = new["config"]
    assert config["Labels"] == {"old": "1", **dict(m.labels)}  # other labels kept
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PATH"] == dict(m.env).get("PATH", "/usr/bin")
    for key, value in dict(m.env).items():
        assert env[key] == value
    assert len(config["Env"]) == len(env)  # a key replaced, never listed twice
    if m.entrypoint is not None:
        assert config["Entrypoint"] == list(m.entrypoint)
    assert config["Cmd"] == (list(m.cmd) if m.cmd is not None else ["/bin/sh"])
    if m.workdir is not None:
        assert config["WorkingDir"] == m.workdir
    if m.user is not None:
        assert config["User"] == m.user
    for port in m.exposed_ports:
        assert f"{int(port.split('/')[0])}/tcp" in config["ExposedPorts"]
    expected = format_time(m.created) if m.created else "2024-05-01T12:00:00Z"
    assert new["created"] == expected
    assert new["rootfs"] == base_config()["rootfs"] and new["history"] == base_config()["history"]
    # The same inputs give the same bytes (the digest a reproducible build relies on).
    assert mutate_config(raw, m, "test") == mutate_config(raw, m, "test")


@FAST
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=3), times)
def test_append_grows_diff_ids_and_history_by_one_per_layer(tars: list[bytes], t: datetime) -> None:
    raw = json.dumps(base_config()).encode()
    ids = [digest_of(tar) for tar in tars]
    new = json.loads(append_to_config(raw, ids, t, "regwire append", "test"))
    assert new["rootfs"]["diff_ids"] == base_config()["rootfs"]["diff_ids"] + ids
    assert len(new["history"]) == 1 + len(tars)
    assert all(h["created"] == format_time(t) for h in new["history"][1:])
    assert new["created"] == format_time(t)
    assert parse_time_option(new["created"]) == t.replace(microsecond=t.microsecond)


def normalized(p: tuple[str, str, str | None]) -> tuple[str, str, str]:
    return normalize(Platform(*p))


platforms = st.tuples(
    st.sampled_from(["linux", "windows", "freebsd"]),
    st.sampled_from(["amd64", "arm64", "arm", "ppc64le", "s390x", "386"]),
    st.sampled_from([None, "v6", "v7", "v8"]),
)


@FAST
@given(st.lists(platforms, min_size=1, max_size=6, unique_by=normalized))
def test_index_create_then_platform_selection_picks_each_source(
    chosen: list[tuple[str, str, str | None]],
) -> None:
    entries = []
    for i, (os, arch, variant) in enumerate(chosen):
        extra: dict[str, Any] = {"os": os, "architecture": arch}
        if variant:
            extra["variant"] = variant
        if os == "windows":
            extra["os.version"] = "10.0.17763.1"
            extra["os.features"] = ["win32k"]
        platform = platform_of(json.dumps(base_config(**extra)).encode(), "test")
        assert platform is not None and platform["os"] == os
        entries.append(index_entry(OCI_MANIFEST, "sha256:" + f"{i:064x}", 100 + i, platform))
    raw = build_index(OCI_INDEX, entries, {}, "test")
    index = decode_manifest(raw, digest_of(raw), OCI_INDEX, "test")
    for i, (os, arch, variant) in enumerate(chosen):
        found = select_platform(index, Platform(os, arch, variant), "repo")
        exact = [
            e
            for e in entries
            if (e["platform"]["os"], e["platform"]["architecture"], e["platform"].get("variant"))
            == (os, arch, variant)
        ]
        assert found.digest == exact[0]["digest"] == "sha256:" + f"{i:064x}"


@FAST
@given(st.lists(st.sampled_from([OCI_MANIFEST, DOCKER_SCHEMA2]), min_size=1, max_size=5))
def test_the_index_type_follows_the_entries_and_mixed_needs_to(types: list[str]) -> None:
    if len(set(types)) > 1:
        with pytest.raises(EditRefused, match="--to oci"):
            index_type(types, None, "x")
    else:
        assert index_type(types, None, "x") == (
            OCI_INDEX if types[0] == OCI_MANIFEST else DOCKER_LIST
        )
    assert index_type(types, "docker", "x") == DOCKER_LIST
    assert index_type(types, "oci", "x") == OCI_INDEX


def _image_manifest(media_type: str, layer_types: list[str], annotations: dict[str, str]) -> bytes:
    config_type = OCI_CONFIG if media_type == OCI_MANIFEST else DOCKER_CONFIG
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": "sha256:" + "c" * 64, "size": 10},
        "layers": [
            {"mediaType": t, "digest": "sha256:" + f"{i:064x}", "size": i}
            for i, t in enumerate(layer_types)
        ],
    }
    if annotations:
        document["annotations"] = annotations
    return json.dumps(document).encode()


@FAST
@given(
    st.lists(
        st.sampled_from([OCI_LAYER_GZIP, "application/vnd.oci.image.layer.v1.tar"]), max_size=4
    ),
    st.dictionaries(keys, values, max_size=2),
)
def test_convert_to_docker_and_back_keeps_every_blob_and_drops_only_annotations(
    layer_types: list[str], annotations: dict[str, str]
) -> None:
    raw = _image_manifest(OCI_MANIFEST, layer_types, annotations)
    oci = decode_manifest(raw, digest_of(raw), OCI_MANIFEST, "t")
    docker_raw, warned = convert_manifest(oci, "docker", "t")
    docker = decode_manifest(docker_raw, digest_of(docker_raw), DOCKER_SCHEMA2, "t")
    assert docker.media_type == DOCKER_SCHEMA2 and docker.config is not None
    assert docker.config.media_type == DOCKER_CONFIG
    assert [d.digest for d in docker.layers] == [d.digest for d in oci.layers]
    assert docker.config.digest == "sha256:" + "c" * 64
    assert bool(warned) == bool(annotations)
    back_raw, _ = convert_manifest(docker, "oci", "t")
    back = decode_manifest(back_raw, digest_of(back_raw), OCI_MANIFEST, "t")
    assert [(d.media_type, d.digest, d.size) for d in back.layers] == [
        (d.media_type, d.digest, d.size) for d in oci.layers
    ]
    assert back.annotations == {}


def test_a_zstd_layer_has_no_docker_form() -> None:
    raw = _image_manifest(OCI_MANIFEST, [OCI_LAYER_ZSTD], {})
    oci = decode_manifest(raw, digest_of(raw), OCI_MANIFEST, "t")
    with pytest.raises(EditRefused, match="zstd"):
        convert_manifest(oci, "docker", "t")
    with pytest.raises(EditRefused, match="zstd"):
        layer_media_type(DOCKER_SCHEMA2, "zstd", "t")
    assert layer_media_type(DOCKER_SCHEMA2, "gzip", "t") == DOCKER_LAYER_GZIP
    assert layer_media_type(OCI_MANIFEST, "zstd", "t") == OCI_LAYER_ZSTD


@FAST
@given(st.lists(st.tuples(keys, values), max_size=5))
def test_pairs_parse_back_to_what_was_written(pairs: list[tuple[str, str]]) -> None:
    assert parse_pairs([f"{k}={v}" for k, v in pairs], "label") == tuple(pairs)


@FAST
@given(words)
def test_a_command_is_a_json_array_of_strings(command: tuple[str, ...]) -> None:
    assert parse_command(json.dumps(list(command)), "cmd") == command


@pytest.mark.parametrize("text", ["[1]", '{"a": 1}', "[unclosed", "KEY"])
def test_bad_options_are_value_errors_before_any_request(text: str) -> None:
    if text == "KEY":
        with pytest.raises(ValueError, match="KEY=VALUE"):
            parse_pairs([text], "label")
    else:
        with pytest.raises(ValueError, match="JSON array"):
            parse_command(text, "cmd")
    with pytest.raises(ValueError, match="PORT"):
        Mutation(exposed_ports=("99999",))
    with pytest.raises(ValueError, match="--time"):
        parse_time_option("yesterday")


@FAST
@given(times, st.none() | st.integers(0, 2**31))
def test_time_given_wins_then_source_date_epoch_then_now(t: datetime, epoch: int | None) -> None:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert when(t, str(epoch) if epoch is not None else None, now) == t
    expected = datetime.fromtimestamp(epoch, timezone.utc) if epoch is not None else now
    assert when(None, str(epoch) if epoch is not None else None, now) == expected
    assert parse_time_option(format_time(t)) == t


# -- the edits over the ends, through drive ---------------------------------------------------


def served() -> tuple[ModelRegistry, Registry, FakeNetwork]:
    model = ModelRegistry("reg.test")
    model.push_image("team/app", "1", None, [b"one" * 100, b"two"])
    model.push_image(
        "team/dock", "1", None, [b"d" * 10], oci=False, architecture="arm64", variant="v8"
    )
    model.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
    net = FakeNetwork(model.handle)
    return model, Registry("reg.test", clock=net.clock), net


def config_of(model: ModelRegistry, repository: str, digest: str) -> dict[str, Any]:
    _, raw = model.repositories[repository].manifests[digest]
    manifest = json.loads(raw)
    return json.loads(model.repositories[repository].blobs[manifest["config"]["digest"]])


def test_mutate_in_one_repository_writes_a_config_and_a_manifest_and_nothing_else() -> None:
    model, registry, net = served()
    end = registry.copy_end("team/app", "1")
    blobs_before = set(model.repositories["team/app"].blobs)
    m = Mutation(labels=(("a", "b"),), annotations=(("k", "v"),))
    edited = drive(mutate(end, "1", end, "2", m), net)
    held = model.repositories["team/app"]
    assert held.tags["2"] == edited.digest and held.tags["1"] != edited.digest
    assert len(set(held.blobs) - blobs_before) == 1  # the new config alone
    assert config_of(model, "team/app", edited.digest)["config"]["Labels"] == {"a": "b"}
    assert json.loads(held.manifests[edited.digest][1])["annotations"] == {"k": "v"}
    uploads = [
        r for r in net.requests if r.method in ("POST", "PATCH", "PUT") and "/blobs/" in r.url
    ]
    assert len([r for r in uploads if r.method == "POST"]) == 1


def test_a_config_change_on_an_index_needs_a_platform_and_annotations_alone_annotate_it() -> None:
    model, registry, net = served()
    end = registry.copy_end("team/multi", "1")
    with pytest.raises(EditRefused, match="--platform"):
        drive(mutate(end, "1", end, "2", Mutation(labels=(("a", "b"),))), net)
    edited = drive(mutate(end, "1", end, "2", Mutation(annotations=(("k", "v"),))), net)
    index = json.loads(model.repositories["team/multi"].manifests[edited.digest][1])
    assert index["annotations"] == {"k": "v"}
    before = json.loads(
        model.repositories["team/multi"].manifests[model.repositories["team/multi"].tags["1"]][1]
    )
    assert index["manifests"] == before["manifests"]
    picked = drive(
        mutate(end, "1", end, "3", Mutation(labels=(("a", "b"),)), Selection(("linux/arm64",))), net
    )
    index = json.loads(model.repositories["team/multi"].manifests[picked.digest][1])
    changed = [e for e in index["manifests"] if e not in before["manifests"]]
    assert [e["platform"]["architecture"] for e in changed] == ["arm64"]
    assert config_of(model, "team/multi", changed[0]["digest"])["config"]["Labels"]["a"] == "b"


def test_append_and_convert_and_index_create_between_a_registry_and_a_layout() -> None:
    _, registry, net = served()
    layout, files = memory_layout()
    dst = LayoutEnd(layout)
    src = registry.copy_end("team/app", "1")
    layer = NewLayer("sha256:" + "e" * 64, 5, "sha256:" + "f" * 64, "gzip")
    files.files["blobs/sha256/" + "e" * 64] = b"fake!"  # written already (write_layer)
    t = datetime(2024, 1, 2, tzinfo=timezone.utc)
    edited = drive(append(src, "1", dst, "app", [layer], t), net)
    manifest = layout.manifest("app")
    assert manifest.digest == edited.digest and manifest.layers[-1].digest == layer.digest
    assert manifest.layers[-1].media_type == OCI_LAYER_GZIP
    config = json.loads(layout.read_blob(manifest.config.digest, 1 << 20))  # type: ignore[union-attr]
    assert (
        config["rootfs"]["diff_ids"][-1] == layer.diff_id
        and config["created"] == "2024-01-02T00:00:00Z"
    )
    for blob in manifest.layers[:-1]:  # the old layers were carried over
        assert layout.has_blob(blob.digest)
    docker = drive(convert(registry.copy_end("team/app", "1"), "1", dst, "docker", "docker"), net)
    assert docker.media_type == DOCKER_SCHEMA2
    with pytest.raises(EditRefused, match="mix"):
        drive(index_create([(dst, "app"), (dst, "docker")], dst, "both"), net)
    both = drive(index_create([(dst, "app"), (dst, "docker")], dst, "both", to="oci"), net)
    index = layout.manifest("both")
    assert both.media_type == OCI_INDEX == index.media_type
    assert {d.media_type for d in index.manifests} == {OCI_MANIFEST}
    again = drive(index_create([(dst, "app"), (dst, "docker")], dst, "both", to="oci"), net)
    assert again.digest == both.digest  # the same inputs, the same digest


@FAST
@given(st.lists(platforms, min_size=1, max_size=6, unique_by=normalized), st.data())
def test_index_remove_drops_exactly_what_it_names_and_refuses_what_is_not_there(
    chosen: list[tuple[str, str, str | None]], data: st.DataObject
) -> None:
    entries = [
        index_entry(
            OCI_MANIFEST,
            "sha256:" + f"{i:064x}",
            10,
            {"os": os, "architecture": arch, **({"variant": v} if v else {})},
        )
        for i, (os, arch, v) in enumerate(chosen)
    ]
    raw = build_index(OCI_INDEX, entries, {"keep": "me"}, "t")
    index = decode_manifest(raw, digest_of(raw), OCI_INDEX, "t")
    gone = data.draw(st.sets(st.sampled_from([e["digest"] for e in entries])))
    left = json.loads(remove_entries(index, (), sorted(gone), "t"))
    assert [e["digest"] for e in left["manifests"]] == [
        e["digest"] for e in entries if e["digest"] not in gone
    ]
    assert left["annotations"] == {"keep": "me"}
    with pytest.raises(EditRefused, match="no entry"):
        remove_entries(index, (), ["sha256:" + "f" * 64], "t")
    os, arch, variant = chosen[0]
    wanted = f"{os}/{arch}/{variant}" if variant else f"{os}/{arch}"
    by_platform = json.loads(remove_entries(index, (wanted,), (), "t"))
    assert entries[0]["digest"] not in [e["digest"] for e in by_platform["manifests"]]


def _image(layers: list[str], docker: bool = False) -> Any:
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_SCHEMA2 if docker else OCI_MANIFEST,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": "sha256:" + "c" * 64,
            "size": 1,
        },
        "layers": [
            {"mediaType": DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP, "digest": d, "size": 1}
            for d in layers
        ],
    }
    raw = json.dumps(document).encode()
    return decode_manifest(raw, digest_of(raw), str(document["mediaType"]), "t")


def _config(ids: list[str], history: list[str], **extra: Any) -> bytes:
    return json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {"Cmd": ["app"]},
            "rootfs": {"type": "layers", "diff_ids": ids},
            "history": [{"created_by": h} for h in history],
            **extra,
        }
    ).encode()


digests = st.integers(0, 2**32).map(lambda i: "sha256:" + f"{i:064x}")


@FAST
@given(
    st.lists(digests, max_size=3, unique=True),
    st.lists(digests, max_size=3, unique=True),
    st.lists(digests, min_size=1, max_size=3, unique=True),
    st.booleans(),
)
def test_rebase_puts_the_image_own_layers_and_history_on_the_new_base(
    old: list[str], own: list[str], new: list[str], docker_base: bool
) -> None:
    image = _image([*old, *own])
    layers = rebase_layers(image, _image(old), _image(new, docker=docker_base), "t")
    assert [d.digest for d in layers] == [*new, *own]
    assert {d.media_type for d in layers} <= {OCI_LAYER_GZIP}  # in the image's own format
    raw = rebase_config(
        _config([*old, *own], [f"old {i}" for i in old] + [f"own {i}" for i in own]),
        _config(old, [f"old {i}" for i in old]),
        _config(new, [f"new {i}" for i in new]),
        "t",
    )
    config = json.loads(raw)
    assert config["rootfs"]["diff_ids"] == [*new, *own]
    assert [h["created_by"] for h in config["history"]] == [f"new {i}" for i in new] + [
        f"own {i}" for i in own
    ]
    assert config["config"] == {"Cmd": ["app"]}
    if old and new[0] not in old:
        with pytest.raises(EditRefused, match="not built on the old base"):
            rebase_layers(image, _image(new), _image(old), "t")
    with pytest.raises(EditRefused, match="architecture"):
        rebase_config(
            _config(old, []), _config(old, []), _config(new, [], architecture="arm64"), "t"
        )
