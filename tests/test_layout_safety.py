"""Hostile OCI layouts on disk (issue 25, items 3, 4 and 6): a layout is read and written only
as the regular files and real folders inside it, through every driver.

A layout is often prepared by someone else (a shared directory, a download): its ``blobs``
folders or blob files may be symlinks leading out of it, FIFOs that would hang an ``open``,
devices that never end, or files longer than their descriptors say. Each test plants one such
thing, runs a copy through every driver's client, and checks both the outcome (a
`LayoutError` naming the file) and what must never happen (a byte of a file outside the layout
reaching the registry, a write into a folder outside the layout, a hang).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regwire import LayoutError
from regwire.drivers.layout import DirectoryFiles, open_layout
from regwire.sansio.layout import REF_NAME
from regwire.testing import ModelRegistry, memory_layout
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

LAYER = b"two" * 7000


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        m.push_image("team/app", "1", None, [b"one" * 500, LAYER])
        return m

    server, model = serve_model(make)
    try:
        yield server, model
    finally:
        server.close()


def copy(driver: str, server: LoopbackServer, source: str, destination: str) -> str:
    """``client.copy(source, destination)`` through ``driver``, in a thread: a copy still
    running after 5 s is a hang (the test fails; a FIFO it waits on is then opened for writing
    and closed by `unblock`, so that the thread ends)."""
    a = server.authority

    async def scenario(client: Any) -> str:
        return str(await client.copy(source.format(a=a), destination.format(a=a)))

    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(
                run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
            )
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():
        raise AssertionError(f"copying {source} to {destination} hung")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return str(outcome[0])


def unblock(fifo: Path) -> None:
    """End a read blocked on ``fifo`` (EOF), if any is."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # no reader waiting
    os.close(fd)


def saved(server: LoopbackServer, path: Path) -> Path:
    """``team/app:1`` saved to a layout at ``path`` (tag ``v1``) with the blocking client."""
    copy("sync", server, "{a}/team/app:1", f"oci:{path}:v1")
    return path


def blob_path(layout: Path, data: bytes) -> Path:
    return layout / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()


def sent_bodies(model: ModelRegistry) -> bytes:
    return b"".join(r.body for r in model.requests)


# -- item 3: a source layout's files are regular files inside it -------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_source_blob_symlinked_to_a_file_outside_is_refused_before_a_byte_is_sent(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    layout = saved(server, tmp_path / "src")
    secret = tmp_path / "config.json"
    secret.write_bytes(b"S" * len(LAYER))  # the size the descriptor states
    blob = blob_path(layout, LAYER)
    blob.unlink()
    blob.symlink_to(secret)
    with pytest.raises(LayoutError, match="symbolic link") as caught:
        copy(driver, server, f"oci:{layout}:v1", "{a}/mirror/app:1")
    assert blob.name in str(caught.value)
    assert b"SSSSSSSS" not in sent_bodies(model)
    held = model.repositories.get("mirror/app")
    assert held is None or not held.tags


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("folder", ["blobs", "blobs/sha256"])
def test_a_source_layout_whose_blob_folder_is_a_symlink_is_refused(
    driver: str, folder: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    layout = saved(server, tmp_path / "src")
    elsewhere = tmp_path / "elsewhere"
    (layout / folder).rename(elsewhere)
    (layout / folder).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(LayoutError, match="symbolic link"):
        copy(driver, server, f"oci:{layout}:v1", "{a}/mirror/app:1")
    assert LAYER not in sent_bodies(model)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_source_blob_that_is_a_symlink_to_dev_zero_is_refused(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, _ = served
    layout = saved(server, tmp_path / "src")
    blob = blob_path(layout, LAYER)
    blob.unlink()
    blob.symlink_to("/dev/zero")
    with pytest.raises(LayoutError, match="symbolic link"):
        copy(driver, server, f"oci:{layout}:v1", f"oci:{tmp_path / 'dst'}:v1")
    assert not blob_path(tmp_path / "dst", LAYER).exists()


def test_a_blob_is_read_only_up_to_its_size_and_one_byte_more_is_an_error(
    tmp_path: Path,
) -> None:
    files = DirectoryFiles(tmp_path)
    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    (tmp_path / "blobs" / "sha256" / "ab").write_bytes(b"x" * 10)
    with pytest.raises(LayoutError, match=r"holds 10 bytes.*states 4"):
        files.open("blobs/sha256/ab", size=4)  # bigger than its descriptor: nothing read
    reader = files.open("blobs/sha256/ab", size=10)
    assert reader.read(100) == b"x" * 10
    with (tmp_path / "blobs" / "sha256" / "ab").open("ab") as grow:
        grow.write(b"more")  # the file grows while it is read
    with pytest.raises(LayoutError, match="more than 10 bytes"):
        reader.read(100)
    reader.seek(6)
    assert reader.read(2) == b"xx"
    reader.close()
    _, memory = memory_layout()
    memory.files["blobs/sha256/ab"] = b"y" * 10
    with pytest.raises(LayoutError, match=r"holds 10 bytes.*states 4"):
        memory.open("blobs/sha256/ab", size=4)
    assert memory.open("blobs/sha256/ab", size=10).read(100) == b"y" * 10


# -- item 6: a FIFO never hangs a copy ---------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("planted", ["index.json", "oci-layout", "blob"])
def test_a_fifo_in_a_source_layout_is_a_layout_error_not_a_hang(
    driver: str, planted: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    layout = saved(server, tmp_path / "src")
    fifo = blob_path(layout, LAYER) if planted == "blob" else layout / planted
    fifo.unlink()
    os.mkfifo(fifo)
    try:
        with pytest.raises(LayoutError, match="FIFO") as caught:
            copy(driver, server, f"oci:{layout}:v1", "{a}/mirror/app:1")
        assert fifo.name in str(caught.value)
    finally:
        unblock(fifo)
    assert LAYER not in sent_bodies(model)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_fifo_index_json_in_a_destination_is_a_layout_error_not_a_hang(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, _ = served
    layout = saved(server, tmp_path / "dst")
    fifo = layout / "index.json"
    fifo.unlink()
    os.mkfifo(fifo)
    try:
        with pytest.raises(LayoutError, match="FIFO"):
            copy(driver, server, "{a}/team/app:1", f"oci:{layout}:v2")
    finally:
        unblock(fifo)


# -- item 4: writes never leave the layout ------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("folder", ["blobs", "blobs/sha256"])
def test_a_destination_whose_blob_folder_is_a_symlink_is_refused_and_nothing_written_there(
    driver: str, folder: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, _ = served
    layout = tmp_path / "dst"
    layout.mkdir()
    if folder == "blobs/sha256":
        (layout / "blobs").mkdir()
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (layout / folder).symlink_to(decoy, target_is_directory=True)
    with pytest.raises(LayoutError, match="symbolic link"):
        copy(driver, server, "{a}/team/app:1", f"oci:{layout}:v1")
    assert list(decoy.rglob("*")) == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_symlink_at_a_blob_name_in_a_destination_is_not_the_blob_and_is_refused(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    """Decision: a link planted under a blob's name is a `LayoutError` naming it (someone else
    wrote the layout), not "present" (the copy used to exit 0 leaving a broken layout), and
    neither the link nor its target is written."""
    server, _ = served
    layout = tmp_path / "dst"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    planted = blob_path(layout, LAYER)
    planted.symlink_to(victim)
    with pytest.raises(LayoutError, match="symbolic link") as caught:
        copy(driver, server, "{a}/team/app:1", f"oci:{layout}:v1")
    assert planted.name in str(caught.value)
    assert victim.read_bytes() == b"precious"
    assert planted.is_symlink()
    assert not (layout / "index.json").exists()


# -- item 6: the oci-layout file's version ------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_layout_of_an_unknown_major_version_is_refused_read_and_written(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    layout = saved(server, tmp_path / "src")
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "9.9.9"}')
    with pytest.raises(LayoutError, match=r"oci-layout.*9\.9\.9") as caught:
        copy(driver, server, f"oci:{layout}:v1", "{a}/mirror/app:1")
    assert "1." in str(caught.value)  # says what regwire reads
    with pytest.raises(LayoutError, match=r"9\.9\.9"):
        copy(driver, server, "{a}/team/app:1", f"oci:{layout}:v2")
    assert "v2" not in (layout / "index.json").read_text()
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.1.0"}')  # a minor is fine
    assert (
        copy(driver, server, f"oci:{layout}:v1", "{a}/mirror/app:1")
        == (model.repositories["team/app"].tags["1"])
    )


@pytest.mark.parametrize(
    "text",
    [b'{"imageLayoutVersion": "2.0.0"}', b"{}", b"[]", b"not json", b'{"imageLayoutVersion": 1}'],
)
def test_an_oci_layout_file_regwire_cannot_vouch_for_is_refused_in_the_core(text: bytes) -> None:
    layout, files = memory_layout()
    files.files["oci-layout"] = text
    files.files["index.json"] = b'{"schemaVersion": 2, "manifests": []}'
    with pytest.raises(LayoutError, match="oci-layout"):
        layout.entries()
    with pytest.raises(LayoutError, match="oci-layout"):
        layout.begin()


# -- item 6: two processes writing one layout ---------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from regwire.drivers.layout import open_layout
    from regwire.sansio.manifests import Descriptor

    path, who, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    layout = open_layout(path)
    digest = layout.put_blob(b'{"schemaVersion": 2}')
    entry = Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 20)
    while not go.exists():
        time.sleep(0.001)
    for i in range(count):
        layout.add(entry, f"{who}-{i}")
    """
)


def test_processes_writing_one_layout_at_once_keep_every_tag(tmp_path: Path) -> None:
    layout, go, count = tmp_path / "shared", tmp_path / "go", 40
    open_layout(layout).begin()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(layout), f"p{n}", str(count), str(go)],
            cwd=Path(__file__).parent.parent,
        )
        for n in range(3)
    ]
    try:
        go.touch()
        assert [w.wait(60) for w in writers] == [0, 0, 0]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
    index = json.loads((layout / "index.json").read_text())
    tags = {e["annotations"][REF_NAME] for e in index["manifests"]}
    assert len(tags) == 3 * count


def test_the_layout_lock_file_is_never_followed_when_it_is_a_symlink(tmp_path: Path) -> None:
    layout = open_layout(tmp_path / "l")
    layout.begin()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "l" / ".regwire.lock").symlink_to(victim)
    digest = layout.put_blob(b"{}")
    from regwire.sansio.manifests import Descriptor

    with pytest.raises(LayoutError, match="symbolic link"):
        layout.add(Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 2), "t")
    assert victim.read_bytes() == b"precious"


# -- item 6: the umask is read, never set --------------------------------------------------------

_UMASK_PROBE = textwrap.dedent(
    """
    import json, os, stat, sys
    from pathlib import Path
    from regwire.drivers.layout import open_layout
    from regwire.sansio.manifests import Descriptor

    os.umask(0o027)
    calls = []
    real = os.umask
    def umask(mask):
        calls.append(mask)
        return real(mask)
    os.umask = umask
    layout = open_layout(sys.argv[1])
    digest = layout.put_blob(b"{}")
    layout.add(Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 2), "t")
    modes = sorted(
        {stat.S_IMODE(p.stat().st_mode) for p in Path(sys.argv[1]).rglob("*") if p.is_file()}
    )
    print(json.dumps({"calls": calls, "modes": modes}))
    """
)


def test_writing_a_layout_never_changes_the_umask_and_modes_follow_it(tmp_path: Path) -> None:
    """In a fresh process (nothing read before), under umask 027: no ``os.umask`` call at all
    (another thread would create files with the wrong mode in that instant), and every file
    is 0640, as ``open()`` would have made it."""
    probe = subprocess.run(
        [sys.executable, "-c", _UMASK_PROBE, str(tmp_path / "l")],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        check=True,
        text=True,
    )
    found = json.loads(probe.stdout)
    assert found["calls"] == []
    assert found["modes"] == [0o640]
