"""Editing's edges, the pure core: the refusals (typed, before anything is written), the
options' and documents' bad shapes, and the less travelled paths of the edits (an index inside
an index, a source that starts over, a schema1 image, edits between two ends), over in-memory
layouts driven with no I/O at all."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio import drive
from regwire.sansio.digests import Verifier, digest_of
from regwire.sansio.edit_documents import (
    DOCKER_LAYER_GZIP,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    EditRefused,
    Mutation,
    append_to_config,
    build_index,
    convert_index,
    convert_manifest,
    family_of,
    index_entry,
    index_type,
    layer_media_type,
    mutate_config,
    parse_command,
    parse_time_option,
    platform_matches,
    platform_of,
    rebase_config,
    rewrite_index,
    rewrite_manifest,
    when,
)
from regwire.sansio.editing import (
    NewLayer,
    Selection,
    _Bytes,
    append,
    convert,
    flatten,
    index_add,
    index_create,
    index_remove,
    mutate,
    rebase,
)
from regwire.sansio.ends import BlobSource, Report, SourceStartedOver
from regwire.sansio.errors import DigestMismatch, ManifestRejected, ProtocolError, TooLarge
from regwire.sansio.events import ConnectionFailed, Operation
from regwire.sansio.layout import LayoutEnd
from regwire.sansio.manifests import (
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    decode_manifest,
)
from regwire.testing import memory_layout
from regwire.testing.layouts import MemoryFiles

FAST = settings(max_examples=40, deadline=None)
T = datetime(2024, 1, 2, tzinfo=timezone.utc)


def no_io(intent: Any) -> Any:
    raise AssertionError(f"a layout edit asked the driver for {intent!r}")


def run(operation: Operation[Any]) -> Any:
    return drive(operation, no_io)


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# -- in-memory layouts and images ----------------------------------------------------------


def new_end() -> tuple[LayoutEnd, MemoryFiles]:
    layout, files = memory_layout()
    return LayoutEnd(layout), files


def blob(files: MemoryFiles, media_type: str, data: bytes) -> dict[str, Any]:
    digest = digest_of(data)
    files.files["blobs/sha256/" + digest.partition(":")[2]] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def config_bytes(arch: str = "amd64", ids: int = 1, **extra: Any) -> bytes:
    return dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["app"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{i:064x}" for i in range(ids)]},
            "history": [{"created_by": f"layer {i}"} for i in range(ids)],
            **extra,
        }
    )


def put(end: LayoutEnd, document: dict[str, Any], tag: str | None) -> Manifest:
    raw = dumps(document)
    manifest = decode_manifest(raw, digest_of(raw), str(document["mediaType"]), "t")
    run(end.put_manifest(manifest, tag or "", listed=tag is not None))
    return manifest


def image(
    end: LayoutEnd,
    files: MemoryFiles,
    tag: str | None,
    *,
    arch: str = "amd64",
    docker: bool = False,
    layers: list[bytes] | None = None,
    **document: Any,
) -> Manifest:
    chunks = [f"layer of {arch}".encode()] if layers is None else layers
    return put(
        end,
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_SCHEMA2 if docker else OCI_MANIFEST,
            "config": blob(
                files, DOCKER_CONFIG if docker else OCI_CONFIG, config_bytes(arch, len(chunks))
            ),
            "layers": [
                blob(files, DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP, c) for c in chunks
            ],
            **document,
        },
        tag,
    )


def entry(manifest: Manifest, arch: str | None, **extra: Any) -> dict[str, Any]:
    platform = None if arch is None else {"os": "linux", "architecture": arch}
    return {
        **index_entry(manifest.media_type, manifest.digest, len(manifest.raw), platform),
        **extra,
    }


def index(end: LayoutEnd, entries: list[dict[str, Any]], tag: str | None, **extra: Any) -> Manifest:
    return put(
        end, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries, **extra}, tag
    )


def written(end: LayoutEnd, tag: str) -> dict[str, Any]:
    return dict(json.loads(end.layout.manifest(tag).raw))


# -- ends that misbehave in one way each ---------------------------------------------------


class _StartsOver:
    """A source that starts over once, after its first piece (a resumed read answered with
    the whole blob), then reads as the one it wraps."""

    def __init__(self, inner: BlobSource) -> None:
        self.inner, self.where, self.channels, self.fired = inner, inner.where, 0, False
        self.size = inner.size

    def open(self) -> Operation[int | None]:
        return (yield from self.inner.open())

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        data = yield from self.inner.read(want, position)
        if not self.fired and data:
            self.fired = True
            yield from self.inner.rewind()
            raise SourceStartedOver(ConnectionFailed("reset", "the peer went away"))
        return data

    def check(self, verifier: Verifier, expected: str | None) -> None:
        self.inner.check(verifier, expected)

    def rewind(self) -> Operation[str | None]:
        return (yield from self.inner.rewind())

    def close(self) -> None:
        self.inner.close()


class Wrapped:
    """A `LayoutEnd` whose sources start over once each, and which serves extra manifests
    (ones a layout cannot hold, schema1)."""

    def __init__(self, end: LayoutEnd, extra: dict[str, Manifest] | None = None) -> None:
        self.end, self.extra, self.opened = end, extra or {}, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.end, name)

    def manifest(self, reference: str, user: str = "") -> Operation[Manifest]:
        if reference in self.extra:
            return self.extra[reference]
        return (yield from self.end.manifest(reference, user))

    def open_blob(self, blob: Descriptor, *, sized: bool, report: Report) -> BlobSource:
        self.opened += 1
        return _StartsOver(self.end.open_blob(blob, sized=sized, report=report))


def schema1() -> Manifest:
    document = {
        "schemaVersion": 1,
        "name": "team/old",
        "tag": "1",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
        "history": [{"v1Compatibility": json.dumps({"id": "x", "architecture": "amd64"})}],
    }
    raw = json.dumps(document).encode()
    return decode_manifest(raw, digest_of(raw), DOCKER_SCHEMA1, "t")


# -- the options' refusals -----------------------------------------------------------------


def test_a_selection_takes_platforms_or_all_and_all_skips_attestations() -> None:
    with pytest.raises(ValueError, match="not both"):
        Selection(("linux/amd64",), all_platforms=True)
    with pytest.raises(ValueError, match="OS/ARCH"):
        Selection(("linux",))
    every = Selection(all_platforms=True)
    assert every.any and not Selection().any
    assert every.picks({"platform": {"os": "linux", "architecture": "arm64"}})
    assert every.picks({})  # no platform: an image still
    assert not every.picks({"platform": {"os": "unknown", "architecture": "unknown"}})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": (("", "v"),)}, "--label needs a key"),
        ({"annotations": (("", "v"),)}, "--annotation needs a key"),
        ({"env": (("A=B", "v"),)}, "no '='"),
        ({"env": (("", "v"),)}, "non-empty"),
        ({"exposed_ports": ("0",)}, "PORT from 1 to 65535"),
        ({"exposed_ports": ("80/xyz",)}, "PORT"),
        ({"created": datetime(2024, 1, 1)}, "aware datetime"),
    ],
)
def test_a_bad_mutation_is_a_value_error_when_made(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Mutation(**kwargs)


def test_commands_and_times_refuse_what_they_cannot_read() -> None:
    with pytest.raises(ValueError, match="not a JSON array"):
        parse_command("[/bin/sh", "cmd")
    with pytest.raises(ValueError, match="must be a JSON array of strings"):
        parse_command("[1, 2]", "cmd")
    assert parse_command("/bin/app", "cmd") == ("/bin/app",)
    with pytest.raises(ValueError, match="out of range"):
        parse_time_option("9" * 30)
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time_option("yesterday")
    assert when("1700000000", "5", T) == datetime.fromtimestamp(1700000000, timezone.utc)
    assert when(datetime(2024, 1, 1), None, T).tzinfo is timezone.utc  # naive taken as UTC
    assert when(None, "", T) is T


@FAST
@given(st.text(max_size=12))
def test_platform_syntax_is_checked_only_against_a_platform(wanted: str) -> None:
    parts = wanted.split("/")
    good = len(parts) in (2, 3) and all(parts)
    assert platform_matches(None, wanted) is False  # nothing to match: no verdict on syntax
    if good:
        platform_matches({"os": "a", "architecture": "b"}, wanted)
    else:
        with pytest.raises(ValueError, match="OS/ARCH"):
            platform_matches({"os": "a", "architecture": "b"}, wanted)


def test_families_and_index_types_of_unknown_kinds() -> None:
    assert family_of("application/json") is None and family_of(DOCKER_LIST) == "docker"
    with pytest.raises(ValueError, match="--to 'xml'"):
        index_type([], "xml", "t")
    assert index_type([OCI_MANIFEST], "docker", "t") == DOCKER_LIST
    assert index_entry(OCI_MANIFEST, "sha256:" + "0" * 64, 1, None) == {
        "mediaType": OCI_MANIFEST,
        "digest": "sha256:" + "0" * 64,
        "size": 1,
    }
    with pytest.raises(ValueError, match="compression 'lz4'"):
        layer_media_type(OCI_MANIFEST, "lz4", "t")
    with pytest.raises(EditRefused, match="not an image to add a layer to"):
        layer_media_type(OCI_INDEX, "gzip", "t")
    with pytest.raises(EditRefused, match="zstd"):
        layer_media_type(DOCKER_SCHEMA2, "zstd", "t")
    assert layer_media_type(DOCKER_SCHEMA2, "none", "t").endswith("diff.tar")


# -- the documents' bad shapes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[]", "config must be a JSON object"),
        (dumps({"config": []}), "config's config must be a JSON object"),
        (dumps({"config": {"Env": "A=1"}}), "Env must be a list"),
        (dumps({"config": {"Labels": "x"}}), "Labels must be a JSON object"),
    ],
)
def test_mutating_a_config_of_the_wrong_shape_is_a_protocol_error(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        mutate_config(raw, Mutation(labels=(("a", "b"),), env=(("A", "2"),)), "t")


def test_appending_to_a_config_of_the_wrong_shape_is_a_protocol_error() -> None:
    ids = ["sha256:" + "1" * 64]
    with pytest.raises(ProtocolError, match=r"rootfs\.diff_ids must be a list"):
        append_to_config(dumps({"rootfs": {"diff_ids": "x"}}), ids, T, "me", "t")
    with pytest.raises(ProtocolError, match="history must be a list"):
        append_to_config(dumps({"history": "x"}), ids, T, "me", "t")
    fresh = json.loads(append_to_config(b"{}", ids, T, "me", "t"))
    assert fresh["rootfs"] == {"type": "layers", "diff_ids": ids}
    assert fresh["history"] == [{"created": "2024-01-02T00:00:00Z", "created_by": "me"}]


@pytest.mark.parametrize(
    "document",
    [{}, {"os": "linux"}, {"os": "", "architecture": "amd64"}, {"os": 1, "architecture": "x"}],
)
def test_a_config_without_os_and_architecture_places_no_entry(document: dict[str, Any]) -> None:
    assert platform_of(dumps(document), "t") is None


def test_rebasing_configs_that_do_not_fit_is_refused() -> None:
    with pytest.raises(EditRefused, match="do not start with the old base's"):
        rebase_config(config_bytes(ids=1), config_bytes(ids=2), config_bytes(ids=1), "t")
    with pytest.raises(ProtocolError, match="diff_ids must be a list of strings"):
        rebase_config(config_bytes(), dumps({"rootfs": {"diff_ids": [1]}}), config_bytes(), "t")
    bad_history = dumps({**json.loads(config_bytes()), "history": "x"})
    with pytest.raises(ProtocolError, match="history must be a list"):
        rebase_config(config_bytes(), config_bytes(), bad_history, "t")


def _manifest(document: dict[str, Any]) -> Manifest:
    raw = dumps(document)
    return decode_manifest(raw, digest_of(raw), str(document["mediaType"]), "t")


CONFIG = {"mediaType": OCI_CONFIG, "digest": "sha256:" + "c" * 64, "size": 2}
LAYER = {"mediaType": OCI_LAYER_GZIP, "digest": "sha256:" + "d" * 64, "size": 3}


def test_docker_documents_carry_no_annotations() -> None:
    docker = _manifest(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_SCHEMA2,
            "config": {**CONFIG, "mediaType": DOCKER_CONFIG},
            "layers": [],
        }
    )
    with pytest.raises(EditRefused, match="convert it first"):
        rewrite_manifest(docker, annotations={"k": "v"}, what="t")
    with pytest.raises(EditRefused, match="use --to oci"):
        build_index(DOCKER_LIST, [], {"k": "v"}, "t")
    oci = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG, "layers": []})
    annotated = json.loads(rewrite_manifest(oci, annotations={"k": "v"}, what="t"))
    assert annotated["config"] == CONFIG and annotated["annotations"] == {"k": "v"}


def test_an_index_rewritten_to_another_type_keeps_entries_not_replaced() -> None:
    child = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "e" * 64, "size": 5}
    top = _manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]})
    raw = rewrite_index(top, {}, media_type=DOCKER_LIST, what="t")
    assert json.loads(raw) == {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [child]}


def test_conversions_refuse_what_the_other_format_cannot_carry() -> None:
    oci = _manifest(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": CONFIG,
            "layers": [{**LAYER, "annotations": {"a": "b"}}],
        }
    )
    for bad in ("docker ", "xml"):
        with pytest.raises(ValueError, match="must be oci or docker"):
            convert_manifest(oci, bad, "t")
        with pytest.raises(ValueError, match="must be oci or docker"):
            convert_index(oci, bad, {}, "t")
    raw, warned = convert_manifest(oci, "docker", "t")
    assert "annotations" not in json.loads(raw)["layers"][0]
    assert warned == ["t: layers[0]'s annotations dropped (Docker has no such field)"]
    subject = _manifest(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG, "subject": LAYER}
    )
    with pytest.raises(EditRefused, match="has a subject"):
        convert_manifest(subject, "docker", "t")
    odd = _manifest(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": CONFIG,
            "layers": [{**LAYER, "mediaType": "application/x-thing"}],
        }
    )
    with pytest.raises(EditRefused, match="'application/x-thing', which has no docker form"):
        convert_manifest(odd, "docker", "t")
    zstd = _manifest(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": CONFIG,
            "layers": [{**LAYER, "mediaType": OCI_LAYER_ZSTD}],
        }
    )
    with pytest.raises(EditRefused, match="keep the image OCI"):
        convert_manifest(zstd, "docker", "t")


def test_an_index_converts_to_docker_dropping_annotations_or_refusing_a_subject() -> None:
    child = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "e" * 64, "size": 5}
    other = {**child, "digest": "sha256:" + "f" * 64}
    top = _manifest(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [child, other],
            "annotations": {"k": "v"},
        }
    )
    new = Descriptor(DOCKER_SCHEMA2, "sha256:" + "1" * 64, 9)
    raw, warned = convert_index(top, "docker", {str(child["digest"]): new}, "t")
    document = json.loads(raw)
    assert "annotations" not in document and warned == [
        "t: the index's annotations dropped (Docker has none)"
    ]
    assert [e["digest"] for e in document["manifests"]] == [new.digest, other["digest"]]
    assert document["manifests"][1]["mediaType"] == DOCKER_SCHEMA2  # mapped, not replaced
    back, warned = convert_index(_manifest({**document}), "oci", {}, "t")
    assert json.loads(back)["mediaType"] == OCI_INDEX and warned == []
    subject = _manifest(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "subject": LAYER}
    )
    with pytest.raises(EditRefused, match="the index has a subject"):
        convert_index(subject, "docker", {}, "t")


# -- the edits' refusals, before any request -----------------------------------------------


def test_edits_with_nothing_to_do_are_value_errors() -> None:
    end, _ = new_end()
    with pytest.raises(ValueError, match="nothing to change"):
        run(mutate(end, "x", end, "y", Mutation()))
    with pytest.raises(ValueError, match="at least one --layer"):
        run(append(end, "x", end, "y", [], T))
    with pytest.raises(ValueError, match="index create needs at least one source"):
        run(index_create([], end, "y"))
    with pytest.raises(ValueError, match="index add needs at least one source"):
        run(index_add(end, "y", []))
    with pytest.raises(ValueError, match="--platform or --digest"):
        run(index_remove(end, "y"))


def test_the_index_commands_refuse_an_image() -> None:
    end, files = new_end()
    image(end, files, "one")
    with pytest.raises(EditRefused, match="names an image, not an index; use index create"):
        run(index_add(end, "one", [(end, "one")]))
    with pytest.raises(EditRefused, match="names an image, not an index"):
        run(index_remove(end, "one", digests=["sha256:" + "0" * 64]))


# -- the small blob made here -------------------------------------------------------------


def test_a_config_made_here_is_served_in_pieces_and_checked() -> None:
    data = b"0123456789"
    source = _Bytes(data, digest_of(data), "t")
    assert run(source.open()) == 10
    assert run(source.read(4, 2)) == b"2345" and run(source.read(None, 8)) == b"89"
    assert run(source.rewind()) is None
    verifier = Verifier(digest_of(data), "t")
    verifier.update(data)
    source.check(verifier, None)
    with pytest.raises(DigestMismatch):
        source.check(verifier, "sha256:" + "0" * 64)
    source.close()


# -- the edits over layouts ----------------------------------------------------------------


def test_a_config_too_large_to_be_a_config_is_refused_before_a_byte_is_read() -> None:
    end, files = new_end()
    big = {**CONFIG, "size": 9 * 1024 * 1024}
    put(end, {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": big, "layers": []}, "big")
    with pytest.raises(TooLarge):
        run(mutate(end, "big", end, "out", Mutation(labels=(("a", "b"),))))
    assert "out" not in [
        e.get("annotations", {}).get("org.opencontainers.image.ref.name")
        for e in files.index()["manifests"]
    ]


def test_annotations_alone_carry_the_config_to_another_end_and_write_no_new_one() -> None:
    src, files = new_end()
    dst, _ = new_end()
    old = image(src, files, "one")
    edited = run(mutate(src, "one", dst, "two", Mutation(annotations=(("k", "v"),))))
    document = written(dst, "two")
    assert edited.digest == dst.layout.manifest("two").digest
    assert document["annotations"] == {"k": "v"}
    assert document["config"] == old.config.to_json()  # type: ignore[union-attr]
    assert dst.layout.has_blob(old.config.digest)  # type: ignore[union-attr]


def test_a_source_that_starts_over_is_read_again_from_the_start() -> None:
    src, files = new_end()
    dst, _ = new_end()
    image(src, files, "one", layers=[b"a" * 100, b"b" * 50])
    wrapped = Wrapped(src)
    edited = run(mutate(wrapped, "one", dst, "two", Mutation(labels=(("a", "b"),))))
    config = json.loads(dst.layout.read_blob(dst.layout.manifest("two").config.digest, 1 << 20))  # type: ignore[union-attr]
    assert config["config"]["Labels"] == {"a": "b"} and edited.digest
    assert wrapped.opened == 3  # the config read, two layers carried


class Spools:
    """The driver's side of flatten, in memory: a spool per layer, merged by concatenation."""

    def __init__(self) -> None:
        self.spools: list[Spool] = []

    def spool(self, blob: Descriptor) -> Spool:
        self.spools.append(Spool())
        return self.spools[-1]

    def merge(self, spools: Any) -> NewLayer:
        data = b"".join(bytes(s.data) for s in spools)
        digest = digest_of(data)

        def source() -> BlobSource:
            return _Bytes(data, digest, "merged")

        return NewLayer(digest, len(data), digest, "none", source)


class Spool:
    def __init__(self) -> None:
        self.data, self.restarts = bytearray(), 0

    def write(self, data: bytes | bytearray) -> None:
        self.data += data

    def restart(self) -> None:
        self.data.clear()
        self.restarts += 1


def test_flatten_downloads_each_layer_whole_even_when_its_source_starts_over() -> None:
    src, files = new_end()
    image(src, files, "one", layers=[b"bottom", b"top"])
    spools = Spools()
    edited = run(flatten(Wrapped(src), "one", src, "flat", spools, T))
    assert [bytes(s.data) for s in spools.spools] == [b"bottom", b"top"]
    assert [s.restarts for s in spools.spools] == [1, 1]
    manifest = src.layout.manifest("flat")
    assert manifest.digest == edited.digest
    assert [d.digest for d in manifest.layers] == [digest_of(b"bottomtop")]


def test_a_layer_without_a_source_cannot_be_appended_where_it_is_missing() -> None:
    end, files = new_end()
    image(end, files, "one")
    layer = NewLayer("sha256:" + "e" * 64, 5, "sha256:" + "f" * 64, "gzip")
    with pytest.raises(ValueError, match="has no source to be read from"):
        run(append(end, "one", end, "two", [layer], T))


def nested(end: LayoutEnd, files: MemoryFiles) -> tuple[Manifest, Manifest, Manifest]:
    """An index of an amd64 image and of an index (placed arm64) of one arm64 image."""
    amd = image(end, files, None, arch="amd64")
    arm = image(end, files, None, arch="arm64")
    inner = index(end, [entry(arm, "arm64")], None)
    outer = index(end, [entry(amd, "amd64"), entry(inner, "arm64")], "multi")
    return amd, inner, outer


def test_an_index_inside_an_index_is_carried_whole_and_not_edited() -> None:
    src, files = new_end()
    dst, _ = new_end()
    amd, inner, _ = nested(src, files)
    edited = run(
        mutate(
            src, "multi", dst, "out", Mutation(labels=(("a", "b"),)), Selection(all_platforms=True)
        )
    )
    entries = written(dst, "out")["manifests"]
    assert entries[0]["digest"] != amd.digest  # the image was edited
    assert entries[1]["digest"] == inner.digest  # the index inside was carried as it is
    assert dst.layout.manifest(inner.digest).raw == inner.raw
    assert edited.digest == dst.layout.manifest("out").digest
    with pytest.raises(EditRefused, match="the index has no image for linux/s390x"):
        run(
            mutate(
                src, "multi", dst, "x", Mutation(labels=(("a", "b"),)), Selection(("linux/s390x",))
            )
        )


def test_rebase_on_an_index_needs_a_platform_and_picks_each_base_by_it() -> None:
    end, files = new_end()
    base = image(end, files, None, arch="arm64", layers=[b"old base"])
    index(end, [entry(base, "arm64")], "old")
    new_base = image(end, files, None, arch="arm64", layers=[b"new base"])
    index(end, [entry(new_base, "arm64")], "new")
    mine = image(end, files, None, arch="arm64", layers=[b"old base", b"mine"])
    index(end, [entry(mine, "arm64")], "app")
    with pytest.raises(EditRefused, match="is an index: name the platform"):
        run(rebase(end, "app", (end, "old"), (end, "new"), end, "out"))
    edited = run(rebase(end, "app", (end, "old"), (end, "new"), end, "out", platform="linux/arm64"))
    out = end.layout.manifest("out")
    assert out.digest == edited.digest and edited.warnings == ()
    assert [d.digest for d in out.layers] == [digest_of(b"new base"), digest_of(b"mine")]
    assert out.annotations["org.opencontainers.image.base.name"] == "new"


def test_rebase_of_a_docker_image_warns_that_the_base_goes_unnamed() -> None:
    end, files = new_end()
    image(end, files, "old", docker=True, layers=[b"old base"])
    image(end, files, "new", docker=True, layers=[b"new base"])
    image(end, files, "app", docker=True, layers=[b"old base", b"mine"])
    edited = run(rebase(end, "app", (end, "old"), (end, "new"), end, "out"))
    assert edited.media_type == DOCKER_SCHEMA2
    assert edited.warnings == (
        f"{end.url}: a Docker manifest carries no annotations: the new base is not named",
    )
    assert end.layout.manifest("out").annotations == {}


def test_schema1_images_are_refused_by_the_edits_that_need_a_config() -> None:
    end, files = new_end()
    old = schema1()
    wrapped = Wrapped(end, {"old": old, old.digest: old})
    image(end, files, "base")
    with pytest.raises(EditRefused, match="is not an image to rebase"):
        run(rebase(wrapped, "old", (end, "base"), (end, "base"), end, "out"))
    with pytest.raises(EditRefused, match="is not an image to edit"):
        run(mutate(wrapped, "old", end, "out", Mutation(labels=(("a", "b"),))))
    with pytest.raises(EditRefused, match="is not an image to edit"):
        run(convert(wrapped, "old", end, "out", "oci"))


def test_index_create_places_a_schema1_image_without_a_platform() -> None:
    """No config, no platform: the entry is listed bare (the layout then refuses to hold the
    schema1 manifest itself, with its own typed error)."""
    end, files = new_end()
    old = schema1()
    files.files["blobs/sha256/" + "a" * 64] = b"held"  # its layer is there: not carried
    wrapped = Wrapped(end, {"old": old, old.digest: old})
    with pytest.raises(ManifestRejected, match="cannot hold a Docker schema1 manifest"):
        run(index_create([(wrapped, "old")], end, "out"))


def test_converting_to_the_format_it_has_keeps_every_byte() -> None:
    end, files = new_end()
    amd = image(end, files, None, arch="amd64")
    top = index(end, [entry(amd, "amd64")], "multi")
    edited = run(convert(end, "multi", end, "same", "oci"))
    assert edited.digest == top.digest and edited.warnings == ()
    assert run(convert(end, amd.digest, end, "img", "oci")).digest == amd.digest


def test_index_create_from_an_index_lists_its_entries_once_and_docker_drops_annotations() -> None:
    end, files = new_end()
    amd = image(end, files, None, arch="amd64")
    arm = image(end, files, "arm", arch="arm64")
    index(end, [entry(amd, "amd64", annotations={"k": "v"})], "multi")
    edited = run(
        index_create([(end, "multi"), (end, "multi"), (end, "arm")], end, "out", to="docker")
    )
    document = written(end, "out")
    assert document["mediaType"] == DOCKER_LIST == edited.media_type
    assert len(document["manifests"]) == 2  # the index's entry once, though named twice
    assert all("annotations" not in e for e in document["manifests"])
    assert [e["platform"]["architecture"] for e in document["manifests"]] == ["amd64", "arm64"]
    assert {e["mediaType"] for e in document["manifests"]} == {DOCKER_SCHEMA2}
    assert arm.digest not in [e["digest"] for e in document["manifests"]]  # converted


def test_index_add_grows_an_index_and_keeps_its_annotations() -> None:
    end, files = new_end()
    amd = image(end, files, None, arch="amd64")
    image(end, files, "arm", arch="arm64")
    index(end, [entry(amd, "amd64")], "multi", annotations={"keep": "me"})
    run(index_add(end, "multi", [(end, "arm")]))
    document = written(end, "multi")
    assert document["annotations"] == {"keep": "me"}
    assert [e["platform"]["architecture"] for e in document["manifests"]] == ["amd64", "arm64"]
    run(index_remove(end, "multi", platforms=["linux/amd64"]))
    assert [e["platform"]["architecture"] for e in written(end, "multi")["manifests"]] == ["arm64"]
