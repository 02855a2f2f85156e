"""``python -m benchmarks.hostile_layouts``: hostile OCI layouts on disk through every driver.

Each `LayoutScenario` plants one thing in a layout (issue 25, items 3, 4 and 6): a blob that is
a symlink to a secret file outside, or to ``/dev/zero``; a symlinked ``blobs/sha256`` in a
destination; a FIFO in place of ``index.json`` or a blob; a blob longer than its descriptor; an
``oci-layout`` of version 9.9.9; a symlink planted at ``blobs/sha256/<hex>`` in a destination.
`run_layout_scenario` builds the layout in a temporary directory, runs the copy through one
driver against a `ModelRegistry` served on loopback, and asserts that nothing outside the layout
was read or written: the secret's bytes never reached the registry, the decoy directory stays
empty, the victim file keeps its bytes, the registry received no more than a layer's worth of a
blob. `main` prints the markdown table, as ``benchmarks.hostile`` does.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regwire.testing.model import ModelRegistry
from regwire.testing.server import serve_model
from tests.harness.drivers import DRIVERS, run_with

__all__ = ["LAYOUT_SCENARIOS", "LayoutScenario", "main", "run_layout_scenario"]

LAYER = b"two" * 7000
SECRET = (b"SECRET-of-the-user-" * 2000)[: len(LAYER)]  # the size the descriptor states
VICTIM = b"precious bytes outside the layout"
HANG = 5.0  # seconds after which a copy counts as hung


@dataclass(frozen=True)
class Places:
    """A scenario's directories: the layout, and what lies outside it."""

    layout: Path
    secret: Path  # a file the layout must never send
    decoy: Path  # a folder the layout must never write into
    victim: Path  # a file the layout must never write

    def blob(self, data: bytes = LAYER) -> Path:
        return self.layout / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LayoutScenario:
    """One hostile layout: ``source`` says whether the copy reads it (to a registry) or writes
    it (from the registry); ``plant`` changes it before the copy, made by a first copy of the
    image when ``saved`` (always for a source), else an empty directory."""

    name: str
    source: bool
    plant: Callable[[Places], None]
    expect: str = "LayoutError"
    saved: bool = True


def _symlink_blob_to_secret(at: Places) -> None:
    at.blob().unlink()
    at.blob().symlink_to(at.secret)


def _symlink_blob_to_dev_zero(at: Places) -> None:
    at.blob().unlink()
    at.blob().symlink_to("/dev/zero")


def _longer_blob(at: Places) -> None:
    with at.blob().open("ab") as blob:
        blob.write(b"!" * 1_000_000)


def _fifo(name: str) -> Callable[[Places], None]:
    def plant(at: Places) -> None:
        path = at.blob() if name == "blob" else at.layout / name
        path.unlink()
        os.mkfifo(path)

    return plant


def _version_9(at: Places) -> None:
    (at.layout / "oci-layout").write_text('{"imageLayoutVersion": "9.9.9"}')


def _symlinked_blob_folder(at: Places) -> None:
    (at.layout / "blobs").mkdir(parents=True)
    (at.layout / "blobs" / "sha256").symlink_to(at.decoy, target_is_directory=True)


def _symlink_at_blob_name(at: Places) -> None:
    at.blob().parent.mkdir(parents=True)
    at.blob().symlink_to(at.victim)


LAYOUT_SCENARIOS = (
    LayoutScenario("source blob symlinked to a secret file outside", True, _symlink_blob_to_secret),
    LayoutScenario("source blob symlinked to /dev/zero", True, _symlink_blob_to_dev_zero),
    LayoutScenario("source blob longer than its descriptor", True, _longer_blob),
    LayoutScenario("source index.json is a FIFO", True, _fifo("index.json")),
    LayoutScenario("source blob is a FIFO", True, _fifo("blob")),
    LayoutScenario("source oci-layout is a FIFO", True, _fifo("oci-layout")),
    LayoutScenario("source oci-layout says 9.9.9", True, _version_9),
    LayoutScenario(
        "destination blobs/sha256 symlinked elsewhere", False, _symlinked_blob_folder, saved=False
    ),
    LayoutScenario("destination index.json is a FIFO", False, _fifo("index.json")),
    LayoutScenario(
        "destination symlink at blobs/sha256/<hex>", False, _symlink_at_blob_name, saved=False
    ),
    LayoutScenario("destination oci-layout says 9.9.9", False, _version_9),
)


def _model(host: str) -> ModelRegistry:
    model = ModelRegistry(host, scheme="http")
    model.push_image("team/app", "1", None, [b"one" * 500, LAYER])
    return model


def _copy(driver: str, authority: str, source: str, destination: str) -> str:
    """The copy's outcome: "ok", the name of the error it raised, or "hung" (after `HANG`)."""

    async def call(client: Any) -> object:
        return await client.copy(source, destination)

    outcome: list[str] = []

    def run() -> None:
        try:
            run_with(driver, call, insecure_registries=[authority], credentials=None, timeout=5)
            outcome.append("ok")
        except Exception as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    return outcome[0] if outcome else "hung"


def _unblock(layout: Path) -> None:
    """Give EOF to a read blocked on any FIFO in ``layout`` (so that a hung copy ends)."""
    for path in layout.rglob("*"):
        if path.is_fifo():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass


def run_layout_scenario(scenario: LayoutScenario, driver: str) -> tuple[str, float]:
    """Run ``scenario`` through ``driver``: its outcome ("ok", "LayoutError", "hung", ...) and
    the seconds the copy took. `AssertionError` if anything outside the layout was read or
    written (whatever the outcome)."""
    server, model = serve_model(_model)
    try:
        with tempfile.TemporaryDirectory(prefix="regwire-hostile-layout-") as tmp:
            at = Places(
                Path(tmp, "layout"), Path(tmp, "secret"), Path(tmp, "decoy"), Path(tmp, "v")
            )
            at.secret.write_bytes(SECRET)
            at.decoy.mkdir()
            at.victim.write_bytes(VICTIM)
            a = server.authority
            if scenario.source or scenario.saved:
                saved = _copy("sync", a, f"{a}/team/app:1", f"oci:{at.layout}:v1")
                assert saved == "ok", f"saving the layout to plant into: {saved}"
            else:
                at.layout.mkdir()
            scenario.plant(at)
            before = len(model.requests)
            started = time.perf_counter()
            if scenario.source:
                outcome = _copy(driver, a, f"oci:{at.layout}:v1", f"{a}/mirror/app:1")
            else:
                outcome = _copy(driver, a, f"{a}/team/app:1", f"oci:{at.layout}:v2")
            seconds = time.perf_counter() - started
            _unblock(at.layout)
            sent = b"".join(r.body for r in model.requests[before:])
            assert SECRET[:64] not in sent, "the secret file's bytes reached the registry"
            assert len(sent) <= 2 * len(LAYER) + 10_000, f"{len(sent)} bytes sent"
            assert list(at.decoy.iterdir()) == [], "a file was written outside the layout"
            assert at.victim.read_bytes() == VICTIM, "a file outside the layout was written"
            assert at.secret.read_bytes() == SECRET
            return outcome, seconds
    finally:
        server.close()


def main() -> int:
    failures = 0
    print("| scenario | expected | " + " | ".join(DRIVERS) + " | worst time |")
    print("|---|---|" + "---|" * len(DRIVERS) + "---|")
    for scenario in LAYOUT_SCENARIOS:
        cells, worst = [], 0.0
        for driver in DRIVERS:
            try:
                outcome, seconds = run_layout_scenario(scenario, driver)
            except AssertionError as breach:
                failures += 1
                cells.append(f"BREACH: {breach}")
                continue
            worst = max(worst, seconds)
            failed = outcome != scenario.expect
            failures += failed
            cells.append(outcome + (" (FAILED)" if failed else ""))
        print(
            f"| {scenario.name} | {scenario.expect} | " + " | ".join(cells) + f" | {worst:.2f} s |"
        )
        sys.stdout.flush()
    print(f"\n{len(LAYOUT_SCENARIOS)} scenarios x {len(DRIVERS)} drivers, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
