"""``python -m benchmarks.kills [--trials N] [--seed S]``: ``regwire copy`` and ``regwire sync``
killed with SIGKILL at random points, then run again.

Two docker-registry processes on 127.0.0.1 (the source holds an index of two images with
multi-MiB layers); each trial picks (seeded) a kind of run (copy to a registry, copy to an OCI
layout, sync from a YAML file to a registry, sync to layouts) and a moment, starts the command,
kills it with SIGKILL at that moment, and runs it again to the end. While both run, a poller
watches the destination: a tag must never be visible before everything it names is there, and
a layout must never have an ``index.json`` naming a blob it lacks, nor a file under a blob's
name whose bytes are not that digest. After the re-run the destination must hold the source's
manifests with their digests. Prints one line per trial and a summary; exits 1 on any breach.
The test suite runs a few trials (`tests/test_kills.py`); the README has a longer run's result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tests.harness.distribution import (
    RealRegistry,
    image_manifest,
    index_descriptor,
    write_layout,
)

KINDS = ("copy-registry", "copy-layout", "sync-registry", "sync-layout")


@dataclass
class Trial:
    number: int
    kind: str
    delay: float
    killed: bool = False
    breaches: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _get(url: str, accept: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


ACCEPT = ",".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _registry_breaches(base: str, repository: str, tag: str) -> list[str]:
    """If ``repository:tag`` is visible, whatever it names must be there."""
    status, raw = _get(f"{base}/v2/{repository}/manifests/{tag}", ACCEPT)
    if status != 200:
        return []
    return _missing_below(base, repository, raw, f"{repository}:{tag}")


def _missing_below(base: str, repository: str, raw: bytes, name: str) -> list[str]:
    document = json.loads(raw)
    found = []
    for child in document.get("manifests", []):
        status, child_raw = _get(f"{base}/v2/{repository}/manifests/{child['digest']}", ACCEPT)
        if status != 200:
            found.append(f"{name} is visible but its image {child['digest'][:19]} is not")
        else:
            found += _missing_below(base, repository, child_raw, name)
    for blob in [document["config"], *document["layers"]] if "config" in document else []:
        head = urllib.request.Request(
            f"{base}/v2/{repository}/blobs/{blob['digest']}", method="HEAD"
        )
        try:
            urllib.request.urlopen(head, timeout=10).close()
        except urllib.error.HTTPError:
            found.append(f"{name} is visible but its blob {blob['digest'][:19]} is not")
    return found


def _layout_breaches(directory: Path) -> list[str]:
    found = []
    blobs = directory / "blobs" / "sha256"
    try:
        index = json.loads((directory / "index.json").read_bytes())
    except FileNotFoundError:
        index = {"manifests": []}
    except ValueError:
        return [f"{directory}/index.json is not whole JSON"]
    for entry in index.get("manifests", []):
        path = blobs / entry["digest"].split(":")[1]
        if not path.is_file():
            found.append(f"index.json names {entry['digest'][:19]}, which is not there")
    for path in blobs.iterdir() if blobs.is_dir() else ():
        if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
            found.append(f"a partial or wrong file under the blob name {path.name[:12]}")
    return found


class Poller(threading.Thread):
    def __init__(self, check: Callable[[], list[str]]) -> None:
        super().__init__(daemon=True)
        self.check, self.breaches = check, set[str]()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.breaches.update(self.check())
            except (OSError, ValueError, KeyError):
                pass  # a file replaced while read, a registry busy: look again
            self.stop.wait(0.01)


def _corpus(root: Path, source: RealRegistry) -> str:
    """An index of two images, each with two 3 MiB layers, in the source registry."""
    layout = root / "corpus"
    rng = random.Random(7)
    children = []
    for arch in ("amd64", "arm64"):
        entry = image_manifest(layout, arch=arch, seed=f"kill-{arch}", layers=2)
        children.append(entry)
    # Bigger layers than image_manifest makes: blobs that take a while to copy.
    for child in children:
        manifest_path = layout / "blobs" / "sha256" / child["digest"].split(":")[1]
        document = json.loads(manifest_path.read_bytes())
        for layer in document["layers"]:
            data = rng.randbytes(3 * 1024 * 1024)
            digest = hashlib.sha256(data).hexdigest()
            (layout / "blobs" / "sha256" / digest).write_bytes(data)
            layer.update(digest=f"sha256:{digest}", size=len(data))
        raw = json.dumps(document).encode()
        digest = hashlib.sha256(raw).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(raw)
        child.update(digest=f"sha256:{digest}", size=len(raw))
    write_layout(layout, {"multi": index_descriptor(layout, children)})
    source.push(layout, "kill/app:1", tag="multi", all_images=True)
    status, raw = _get(f"http://{source.authority}/v2/kill/app/manifests/1", ACCEPT)
    assert status == 200
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _command(kind: str, source: RealRegistry, dest: RealRegistry, work: Path, n: int) -> list[str]:
    base = [sys.executable, "-m", "regwire"]
    src = f"{source.authority}/kill/app:1"
    if kind == "copy-registry":
        return [*base, "copy", src, f"{dest.authority}/trial{n}/app:1", "--insecure"]
    if kind == "copy-layout":
        return [*base, "copy", src, f"oci:{work / f'layout{n}'}:1", "--insecure"]
    sync = work / "sync.yml"
    sync.write_text(f"{source.authority}:\n  tls-verify: false\n  images:\n    kill/app: ['1']\n")
    if kind == "sync-registry":
        target = ["--dest", "docker", f"{dest.authority}/sync{n}", "--dest-tls-verify=false"]
    else:
        target = ["--dest", "oci", str(work / f"layouts{n}")]
    return [*base, "sync", "--src", "yaml", str(sync), *target]


def _where(
    kind: str, dest: RealRegistry, work: Path, n: int
) -> tuple[Callable[[], list[str]], Callable[[], str | None]]:
    """The breach check to poll, and what the finished destination's digest is."""
    base = f"http://{dest.authority}"
    if kind in ("copy-registry", "sync-registry"):
        repository = f"trial{n}/app" if kind == "copy-registry" else f"sync{n}/app"

        def digest() -> str | None:
            status, raw = _get(f"{base}/v2/{repository}/manifests/1", ACCEPT)
            return "sha256:" + hashlib.sha256(raw).hexdigest() if status == 200 else None

        return (lambda: _registry_breaches(base, repository, "1")), digest
    directory = work / (f"layout{n}" if kind == "copy-layout" else f"layouts{n}/app")

    def layout_digest() -> str | None:
        try:
            index = json.loads((directory / "index.json").read_bytes())
        except FileNotFoundError:
            return None
        names = {
            e.get("annotations", {}).get("org.opencontainers.image.ref.name"): e["digest"]
            for e in index["manifests"]
        }
        return names.get("1")

    return (lambda: _layout_breaches(directory)), layout_digest


def run(trials: int, seed: int, out: TextIO = sys.stdout) -> list[Trial]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="regwire-kills-") as tmp:
        root = Path(tmp)
        source = RealRegistry(root / "source", "none")
        dest = RealRegistry(root / "dest", "none")
        try:
            expected = _corpus(root, source)
            env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
            started = time.monotonic()  # how long a whole copy takes: the window to kill in
            subprocess.run(
                _command("copy-registry", source, dest, root, 0), check=True, env=env,
                capture_output=True, timeout=120,
            )  # fmt: skip
            window = max(time.monotonic() - started, 0.2)
            results = []
            for n in range(1, trials + 1):
                kind = rng.choice(KINDS)
                trial = Trial(n, kind, rng.uniform(0.0, window * 1.1))
                check, digest = _where(kind, dest, root, n)
                poller = Poller(check)
                poller.start()
                began = time.monotonic()
                command = _command(kind, source, dest, root, n)
                process = subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                try:
                    process.wait(timeout=trial.delay)
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    trial.killed = True
                again = subprocess.run(command, env=env, capture_output=True, timeout=120)
                poller.stop.set()
                poller.join()
                trial.seconds = time.monotonic() - began
                trial.breaches = sorted(poller.breaches)
                trial.breaches += [f"{b} (after the re-run)" for b in check()]
                if again.returncode != 0:
                    trial.breaches.append(f"the re-run failed: {again.stderr.decode()[-300:]}")
                elif digest() != expected:
                    trial.breaches.append(f"the destination holds {digest()}, not {expected}")
                results.append(trial)
                state = "killed" if trial.killed else "finished before the kill"
                verdict = "ok" if not trial.breaches else "; ".join(trial.breaches)
                print(
                    f"trial {n:3}: {kind:13} {state} at {trial.delay:.2f} s: {verdict}",
                    file=out,
                    flush=True,
                )
            return results
        finally:
            source.close()
            dest.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    started = time.monotonic()
    results = run(args.trials, args.seed)
    killed = sum(t.killed for t in results)
    failed = sum(bool(t.breaches) for t in results)
    print(
        f"\n{len(results)} trials (seed {args.seed}), {killed} killed mid-run, "
        f"{failed} with a breach, {time.monotonic() - started:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
