"""``python -m benchmarks.archives [--size MIB] [--rounds R] [--smoke] [--json FILE]``: archives.

Issue 29's numbers: a single-layer image of ``--size`` MiB (1024 by default) copied from the
real docker-registry into a docker-archive and from that archive back into the registry, by
regwire's three clients and by ``skopeo copy``, each copy a fresh process (its wall time,
imports excluded, and its peak RSS: ``VmHWM`` for regwire, the child's rusage for skopeo), the
clients taking turns round after round so that a busy minute on a shared machine lands on all.
Targets: at least skopeo's speed, peak RSS under 64 MiB.

Into the archive, the layer is undone from gzip and stored as a tar (both tools); back, it is
compressed again: regwire with block-parallel zlib at level 1, a block per core (deterministic:
the same archive gives the same digest), skopeo with pgzip on every core. The layer holds this
machine's files under /usr (programs, libraries, scripts, documents, some already compressed),
as a base image's layer would. ``--smoke`` (8 MiB, one round) is the test suite's check that
this still runs.

The 40-image corpus "into one oci-archive and back" is left out: neither skopeo nor regwire
writes several images into one oci-archive (each copy writes a whole archive), so there is no
such workload to time; ``regwire save`` writes several images into one docker-archive.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

CLIENTS = ("regwire-sync", "regwire-trio", "regwire-asyncio", "skopeo")
DIRECTIONS = ("registry -> docker-archive", "docker-archive -> registry")
RSS_TARGET_MIB = 64.0
_CHUNK = 1024 * 1024


# -- the image -------------------------------------------------------------------------------


class _Packer:
    """What ``tarfile`` writes, hashed (the diff ID), gzip-compressed at level 1, hashed again
    (the digest) and written to ``out``: a large layer never sits in memory."""

    def __init__(self, out: Any) -> None:
        self.out, self.inner, self.outer = out, hashlib.sha256(), hashlib.sha256()
        self.deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
        self.size = 0

    def tell(self) -> int:
        return self.size

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.inner.update(data)
        packed = self.deflate.compress(data)
        self.outer.update(packed)
        self.out.write(packed)
        return len(data)

    def close(self) -> None:
        tail = self.deflate.flush()
        self.outer.update(tail)
        self.out.write(tail)


def _system_files() -> Any:
    """This machine's files under /usr, in a stable order: what a base image's layer holds
    (programs, libraries, scripts, documents, some of them compressed already)."""
    for root in ("/usr/lib", "/usr/share", "/usr/bin"):
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    yield path


def _layer(path: Path, size: int) -> tuple[str, str, int]:
    """A gzip tar of ``size`` bytes (within 64 KiB) of this machine's files at ``path`` (a
    file that cannot be read, or would make it larger, is left out; the files are taken again,
    under new names, if /usr holds fewer bytes); its digest, diff ID and size."""
    with path.open("wb") as out:
        packer = _Packer(out)
        with tarfile.open(fileobj=packer, mode="w", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
            written, round_ = 0, 0
            while size - written >= 64 * 1024:
                before = written
                for name in _system_files():
                    length = os.path.getsize(name) + tarfile.BLOCKSIZE
                    if written + length > size:
                        continue  # the layer stays within its size
                    try:
                        tar.add(name, arcname=f"r{round_}{name}", recursive=False)
                    except OSError:
                        continue
                    written += length
                    if size - written < 64 * 1024:
                        break
                if written == before:
                    break  # nothing more fits
                round_ += 1
        packer.close()
        total = out.tell()
    return "sha256:" + packer.outer.hexdigest(), "sha256:" + packer.inner.hexdigest(), total


def build_layout(root: Path, size: int) -> Path:
    """An OCI layout holding one image whose one layer is ``size`` bytes of file."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    staging = root / "layer.tmp"
    digest, diff_id, length = _layer(staging, size)
    staging.rename(blobs / digest[7:])

    def put(data: bytes) -> dict[str, Any]:
        name = hashlib.sha256(data).hexdigest()
        (blobs / name).write_bytes(data)
        return {"digest": f"sha256:{name}", "size": len(data)}

    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest,
                    "size": length,
                }
            ],
        }
    ).encode()
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **put(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "big"},
    }
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return root


# -- one copy, in a process of its own --------------------------------------------------------


def _forget_blob_locations() -> None:
    """skopeo's blob info cache would let a later run skip what an earlier one pushed."""
    for root in (Path("/var/lib/containers/cache"), Path.home() / ".local/share/containers/cache"):
        (root / "blob-info-cache-v1.boltdb").unlink(missing_ok=True)
        (root / "blob-info-cache-v1.sqlite").unlink(missing_ok=True)


def _copy(client: str, source: str, destination: str, host: str) -> None:
    if client == "skopeo":
        _forget_blob_locations()
        done = subprocess.run(
            ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
             source, destination],
            capture_output=True, timeout=3600, check=False,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"skopeo copy failed: {done.stderr.decode()[-1500:]}")
        return
    typed = [end.removeprefix("docker://") for end in (source, destination)]
    if client == "regwire-sync":
        import regwire

        with regwire.Client(insecure_registries=[host], credentials=None) as c:
            c.copy(*typed)
        return

    async def main() -> None:
        if client == "regwire-trio":
            from regwire.drivers.trio import Client as TrioClient

            async with TrioClient(insecure_registries=[host], credentials=None) as tc:
                await tc.copy(*typed)
            return
        from regwire.drivers.asyncio import Client as AsyncioClient

        async with AsyncioClient(insecure_registries=[host], credentials=None) as ac:
            await ac.copy(*typed)

    if client == "regwire-trio":
        import trio

        trio.run(main)
    else:
        import asyncio

        asyncio.run(main())


def job(client: str, source: str, destination: str, host: str) -> dict[str, float]:
    """Run in the child: the copy's wall time and the process's peak RSS."""
    if client.startswith("regwire"):  # imports are not what is timed
        importlib.import_module("regwire.drivers.sync")
        driver = {"regwire-trio": "trio", "regwire-asyncio": "asyncio"}.get(client)
        if driver is not None:
            importlib.import_module(f"regwire.drivers.{driver}")
    started = time.perf_counter()
    _copy(client, source, destination, host)
    seconds = time.perf_counter() - started
    if client == "skopeo":
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    else:
        with open("/proc/self/status") as status:
            hwm = next(line for line in status if line.startswith("VmHWM:"))
        rss = int(hwm.split()[1]) / 1024
    return {"seconds": seconds, "rss_mib": rss}


def _run_job(client: str, source: str, destination: str, host: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.archives", "--job", client, source, destination, host],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{client} {source} -> {destination} failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the workload ------------------------------------------------------------------------------


def _config_and_diffs(transport: str) -> tuple[str, list[str]]:
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--config", "--tls-verify=false", transport],
        capture_output=True,
        check=True,
        timeout=600,
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest(), json.loads(raw)["rootfs"]["diff_ids"]


def run(size_mib: int, rounds: int, work: Path) -> dict[str, Any]:
    from tests.harness.distribution import RealRegistry

    registry = RealRegistry(work / "registry", "none", deletes=True)
    try:
        a = registry.authority
        layout = build_layout(work / "layout", size_mib * _CHUNK)
        registry.push(layout, "bench/big", tag="big")
        expected = _config_and_diffs(f"docker://{a}/bench/big:latest")
        shutil.rmtree(layout)
        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_ in range(rounds):
            order = CLIENTS[round_ % len(CLIENTS) :] + CLIENTS[: round_ % len(CLIENTS)]
            for client in order:
                archive = work / f"{client}.tar"
                archive.unlink(missing_ok=True)
                there = _run_job(
                    client, f"docker://{a}/bench/big:latest", f"docker-archive:{archive}", a
                )
                back_ref = f"{a}/back/{client}-{round_}:1"
                back = _run_job(client, f"docker-archive:{archive}", f"docker://{back_ref}", a)
                if _config_and_diffs(f"docker://{back_ref}") != expected:
                    raise SystemExit(f"{client}: the round trip changed the config or diff IDs")
                samples.setdefault((client, DIRECTIONS[0]), []).append(there)
                samples.setdefault((client, DIRECTIONS[1]), []).append(back)
                archive.unlink()
        rows = []
        for (client, direction), runs in samples.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            rows.append(
                {
                    "client": client,
                    "direction": direction,
                    "seconds": seconds,
                    "mib_per_s": size_mib / seconds,
                    "peak_rss_mib": max(r["rss_mib"] for r in runs),
                }
            )
        return {"size_mib": size_mib, "rounds": rounds, "cpus": os.cpu_count(), "rows": rows}
    finally:
        registry.close()


def report(result: dict[str, Any]) -> str:
    lines = [
        f"archives: a {result['size_mib']} MiB single-layer image, median of "
        f"{result['rounds']} round(s), {result['cpus']} CPUs",
        "",
        "| workload | client | s | MiB/s | peak RSS MiB |",
        "|---|---|---|---|---|",
    ]
    for row in sorted(result["rows"], key=lambda r: (r["direction"], r["client"])):
        flag = (
            "" if row["client"] == "skopeo" or row["peak_rss_mib"] < RSS_TARGET_MIB else " (over)"
        )
        lines.append(
            f"| {row['direction']} | {row['client']} | {row['seconds']:.2f} | "
            f"{row['mib_per_s']:.1f} | {row['peak_rss_mib']:.1f}{flag} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--job"]:
        client, source, destination, host = args[1:5]
        print(json.dumps(job(client, source, destination, host)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.archives")
    parser.add_argument("--size", type=int, default=1024, metavar="MIB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="8 MiB, one round")
    parser.add_argument("--json", metavar="FILE")
    options = parser.parse_args(args)
    size, rounds = (8, 1) if options.smoke else (options.size, options.rounds)
    work = Path(tempfile.mkdtemp(prefix="bench-archives-"))
    try:
        result = run(size, rounds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(result))
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
