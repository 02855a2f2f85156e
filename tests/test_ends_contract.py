"""The contract every end of a copy keeps (`regwire.sansio.ends.End`), run over each end.

A registry repository (`Remote`, against the model registry), an OCI layout (`LayoutEnd`,
in memory) and an oci-archive (the layout's logic over a tar being written, read back from it)
answer the same questions the same way: every case here runs over each. Then a copy between
every pair of ends, written once over the interface (`copying.copy`), keeps every byte and
digest. A docker-archive keeps less by its format (configs and uncompressed layers, no
manifest): it keeps the contract's cases its format can hold, and what a round trip through it
promises (config bytes, diff IDs), from and to every other end.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from regwire import DigestMismatch, RegistryError
from regwire.drivers.archives import TarWriter
from regwire.sansio import Registry, drive
from regwire.sansio.archive import ArchiveError, ArchiveLayout
from regwire.sansio.archive_docker import DockerArchive
from regwire.sansio.copying import copy, quiet
from regwire.sansio.digests import Verifier
from regwire.sansio.ends import BlobSource, CopyProgress, End
from regwire.sansio.events import Operation
from regwire.sansio.layout import LayoutEnd
from regwire.sansio.manifests import OCI_MANIFEST, Descriptor, Manifest, decode_manifest
from regwire.sansio.remote import Remote
from regwire.testing import FakeNetwork, ModelRegistry, memory_layout, sha256

Run = Callable[[Operation[Any]], Any]


class BytesSource:
    """The smallest `BlobSource`: bytes held in memory, read in pieces of ``piece``."""

    channels = 0

    def __init__(self, data: bytes, digest: str, *, piece: int = 7) -> None:
        self.data, self.digest, self.piece = data, digest, piece
        self.size: int | None = len(data)
        self.where = "memory"
        self.at = 0
        self.closed = False

    def open(self) -> Operation[int | None]:
        return len(self.data)
        yield  # pragma: no cover

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        take = min(want or self.piece, self.piece)
        data = self.data[self.at : self.at + take]
        self.at += len(data)
        return data
        yield  # pragma: no cover

    def check(self, verifier: Verifier, expected: str | None) -> None:
        if expected is not None and verifier.actual != expected:
            raise DigestMismatch(self.where, expected, verifier.actual)
        verifier.check()

    def rewind(self) -> Operation[str | None]:
        self.at = 0
        return None
        yield  # pragma: no cover

    def close(self) -> None:
        self.closed = True


def test_bytes_source_keeps_the_blob_source_contract() -> None:
    source: BlobSource = BytesSource(b"abc", sha256(b"abc"))  # mypy checks the protocol
    assert local(source.open()) == 3


def registry_end() -> tuple[End, Run]:
    model = ModelRegistry("dst.test")
    net = FakeNetwork(model.handle)
    registry = Registry("dst.test", clock=net.clock)
    return Remote(registry.session, "team/app"), lambda op: drive(op, net)


def no_io(intent: Any) -> Any:
    raise AssertionError(f"a layout end asks nothing of the driver, got {intent!r}")


def local(operation: Operation[Any]) -> Any:
    return drive(operation, no_io)


def layout_end() -> tuple[End, Run]:
    layout, _ = memory_layout()
    return LayoutEnd(layout), local


_FOLDERS: list[str] = []
_ARCHIVES: list[DockerArchive] = []


@pytest.fixture(autouse=True)
def _remove_folders() -> Iterator[None]:
    yield
    while _ARCHIVES:
        _ARCHIVES.pop().close()  # its spools
    while _FOLDERS:
        shutil.rmtree(_FOLDERS.pop(), ignore_errors=True)


def _tar_writer() -> TarWriter:
    folder = tempfile.mkdtemp(prefix="regwire-contract-")
    _FOLDERS.append(folder)
    return TarWriter(f"{folder}/x.tar")


def oci_archive_end() -> tuple[End, Run]:
    """An oci-archive being written: what is written so far is read back from the tar."""
    files = _tar_writer()
    return LayoutEnd(ArchiveLayout(files, files.path)), local


ENDS: dict[str, Callable[[], tuple[End, Run]]] = {
    "registry": registry_end,
    "layout": layout_end,
    "oci-archive": oci_archive_end,
}


@pytest.fixture(params=sorted(ENDS))
def end(request: pytest.FixtureRequest) -> tuple[End, Run]:
    return ENDS[request.param]()


def blob_of(data: bytes) -> Descriptor:
    return Descriptor("application/octet-stream", sha256(data), len(data))


def read_back(end: End, run: Run, blob: Descriptor) -> bytes:
    heard: list[CopyProgress] = []
    source = end.open_blob(blob, sized=True, report=heard.append)
    try:
        run(source.open())
        verifier = Verifier(blob.digest, source.where)
        got = bytearray()
        while piece := run(source.read(None, verifier.size)):
            verifier.update(piece)
            got += piece
        source.check(verifier, blob.digest)
    finally:
        source.close()
    assert sum(e.size for e in heard if e.state == "bytes") == len(got)
    return bytes(got)


def image(end: End, run: Run, subject: Descriptor | None = None) -> Manifest:
    """An image whose blobs the end holds, as a decoded manifest (not written yet)."""
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"a layer " * 40
    for data in (config, layer):
        assert run(end.write_blob(blob_of(data), BytesSource(data, sha256(data)))) is True
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            **blob_of(config).to_json(),
            "mediaType": "application/vnd.oci.image.config.v1+json",
        },
        "layers": [blob_of(layer).to_json()],
    }
    if subject is not None:
        document["subject"] = subject.to_json()
    raw = json.dumps(document).encode()
    return decode_manifest(raw, sha256(raw), OCI_MANIFEST, "test")


def test_a_blob_written_from_a_source_is_held_and_reads_back_whole(
    end: tuple[End, Run],
) -> None:
    e, run = end
    data = bytes(range(256)) * 5
    blob = blob_of(data)
    assert run(e.has_blob(blob.digest)) is False
    e.begin()
    source = BytesSource(data, blob.digest)
    assert run(e.write_blob(blob, source)) is True
    assert run(e.has_blob(blob.digest)) is True
    assert read_back(e, run, blob) == data


def test_a_source_that_is_not_the_blob_leaves_nothing(end: tuple[End, Run]) -> None:
    e, run = end
    e.begin()
    good, bad = b"the right bytes!" * 9, b"the wrong bytes!" * 9
    blob = blob_of(good)
    with pytest.raises(DigestMismatch):
        run(e.write_blob(blob, BytesSource(bad, blob.digest)))
    assert run(e.has_blob(blob.digest)) is False


def test_a_manifest_written_is_read_back_byte_for_byte_by_tag_and_digest(
    end: tuple[End, Run],
) -> None:
    e, run = end
    e.begin()
    manifest = image(e, run)
    digest = run(e.put_manifest(manifest, "v1", listed=True))
    assert digest == manifest.digest
    for reference in ("v1", digest):
        again = run(e.manifest(reference))
        assert (again.raw, again.digest) == (manifest.raw, manifest.digest)


def test_a_manifest_with_a_subject_is_listed_among_its_referrers(end: tuple[End, Run]) -> None:
    e, run = end
    e.begin()
    subject = image(e, run)
    run(e.put_manifest(subject, "v1", listed=True))
    on = Descriptor(subject.media_type, subject.digest, len(subject.raw))
    referrer = image(e, run, subject=on)
    run(e.put_manifest(referrer, "", listed=True))
    assert [d.digest for d in run(e.referrers(subject.digest))] == [referrer.digest]


def test_a_blob_the_end_does_not_hold_is_a_typed_error(end: tuple[End, Run]) -> None:
    e, run = end
    e.begin()
    blob = blob_of(b"never written")

    def read_missing() -> None:
        source = e.open_blob(blob, sized=True, report=quiet)
        try:
            run(source.open())
            run(source.read(None, 0))
        finally:
            source.close()

    with pytest.raises(RegistryError):
        read_missing()


@pytest.mark.parametrize("to", sorted(ENDS))
@pytest.mark.parametrize("frm", sorted(ENDS))
def test_a_copy_between_any_two_ends_keeps_every_digest(frm: str, to: str) -> None:
    src, run_src = ENDS[frm]()
    dst, run_dst = ENDS[to]()
    src.begin()
    manifest = image(src, run_src)
    run_src(src.put_manifest(manifest, "v1", listed=True))
    # One loop runs both ends: a registry end's intents go to its network, a layout's none.
    run = run_src if frm == "registry" else run_dst
    if frm == to == "registry":
        # Two models behind one network, as two registries.
        model_src, model_dst = ModelRegistry("src.test"), ModelRegistry("dst.test")

        def route(request: Any) -> Any:
            host = request.url.split("/")[2]
            return (model_src if host == "src.test" else model_dst).handle(request)

        net = FakeNetwork(route)
        src = Remote(Registry("src.test", clock=net.clock).session, "team/app")
        dst = Remote(Registry("dst.test", clock=net.clock).session, "mirror/app")
        run = lambda op: drive(op, net)  # noqa: E731
        manifest = image(src, run)
        run(src.put_manifest(manifest, "v1", listed=True))
    heard: list[CopyProgress] = []
    digest = run(copy(src, "v1", dst, "copied", None, report=heard.append))
    assert digest == manifest.digest
    again = run(dst.manifest("copied"))
    assert again.raw == manifest.raw
    for blob in [manifest.config, *manifest.layers]:
        assert blob is not None
        assert run(dst.has_blob(blob.digest)) is True
        assert read_back(dst, run, blob) == read_back(src, run, blob)
    assert [e.state for e in heard].count("sent") == 2


# -- the docker-archive end: what its format keeps ---------------------------------------------


def docker_archive_end() -> tuple[End, Run]:
    files = _tar_writer()
    _ARCHIVES.append(DockerArchive(files, files.path))
    return _ARCHIVES[-1].end(("team/app:v1",)), local


def real_image(end: End, run: Run, seed: bytes = b"x") -> Manifest:
    """An image a docker-archive can hold (a gzip tar layer, a config listing its diff ID),
    its blobs written to ``end``."""
    raw_tar = io.BytesIO()
    with tarfile.open(fileobj=raw_tar, mode="w") as tar:
        info = tarfile.TarInfo("file")
        info.size = len(seed * 300)
        tar.addfile(info, io.BytesIO(seed * 300))
    layer = gzip.compress(raw_tar.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(raw_tar.getvalue()).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_d = Descriptor("application/vnd.oci.image.config.v1+json", sha256(config), len(config))
    layer_d = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", sha256(layer), len(layer))
    end.begin()
    for blob, data in ((config_d, config), (layer_d, layer)):
        assert run(end.write_blob(blob, BytesSource(data, blob.digest))) is True
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_d.to_json(),
        "layers": [layer_d.to_json()],
    }
    raw = json.dumps(document).encode()
    return decode_manifest(raw, sha256(raw), OCI_MANIFEST, "test")


def kept(end: End, run: Run, manifest: Manifest) -> tuple[bytes, list[str]]:
    """The config's bytes and the layers' diff IDs of ``manifest`` as ``end`` serves them."""
    assert manifest.config is not None
    config = read_back(end, run, manifest.config)
    diffs = []
    for layer in manifest.layers:
        data = read_back(end, run, layer)
        diffs.append("sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest())
    return config, diffs


def test_a_docker_archive_keeps_configs_byte_for_byte_and_refuses_what_it_cannot_hold() -> None:
    e, run = docker_archive_end()
    manifest = real_image(e, run)
    assert manifest.config is not None
    assert run(e.has_blob(manifest.config.digest)) is True
    assert read_back(e, run, manifest.config) == read_back(e, run, manifest.config)
    run(e.put_manifest(manifest, "v1", listed=True))
    made = run(e.manifest("team/app:v1"))  # made up: gzip layers, the config as it was
    assert made.config is not None and made.config.digest == manifest.config.digest
    assert kept(e, run, made)[1] == json.loads(read_back(e, run, made.config))["rootfs"]["diff_ids"]
    with pytest.raises(ArchiveError, match="holds image configs and layers"):
        run(e.write_blob(blob_of(b"data"), BytesSource(b"data", sha256(b"data"))))
    assert run(e.referrers(manifest.digest)) == []
    assert getattr(e, "keeps_extra_tags", True) is False


def test_a_source_that_is_not_the_layer_leaves_nothing_in_a_docker_archive() -> None:
    e, run = docker_archive_end()
    good = gzip.compress(b"the right tar", mtime=0)
    blob = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", sha256(good), len(good))
    bad = gzip.compress(b"the wrong tar", mtime=0)
    with pytest.raises(DigestMismatch):
        run(e.write_blob(blob, BytesSource(bad, blob.digest)))
    assert run(e.has_blob(blob.digest)) is False


@pytest.mark.parametrize("other", sorted(ENDS))
def test_a_round_trip_through_a_docker_archive_keeps_the_config_and_diff_ids(other: str) -> None:
    src, run_src = ENDS[other]()
    manifest = real_image(src, run_src)
    run_src(src.put_manifest(manifest, "v1", listed=True))
    archive, _ = docker_archive_end()  # asks nothing of a driver: either end runs it
    run_src(copy(src, "v1", archive, "v1", None))
    back, run_back = ENDS[other]()
    digest = run_back(copy(archive, "team/app:v1", back, "v2", None))
    again = run_back(back.manifest("v2"))
    assert again.digest == digest
    assert again.config is not None and manifest.config is not None
    assert again.config.digest == manifest.config.digest
    assert kept(back, run_back, again) == kept(src, run_src, manifest)
