"""Workload 9: copy the corpus from one registry to another, as each client does it.

regwire's blocking client copies one image after another (its blobs in threads, 4 at once, or
one by one with c=1); its async clients copy 16 images at
once (each with its blobs several at once); skopeo sync is one process for the whole list;
``skopeo copy`` per image is how people script it. Every client copies every platform and keeps
every digest (skopeo: ``--all --preserve-digests``), into a fresh namespace, so that nothing is
already there; the answer each returns is the list of digests the destination then serves.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import regwire


def forget_blob_locations() -> None:
    """Remove skopeo's blob info cache, which remembers where it has put blobs before: with
    it, a later run mounts them from an earlier run's repository instead of copying them."""
    for root in (Path("/var/lib/containers/cache"), Path.home() / ".local/share/containers/cache"):
        (root / "blob-info-cache-v1.boltdb").unlink(missing_ok=True)
        (root / "blob-info-cache-v1.sqlite").unlink(missing_ok=True)


def _kwargs(ca_file: str | None, source: str, destination: str, **extra: Any) -> dict[str, Any]:
    insecure = [destination] if ca_file else [source, destination]
    return {"ca_file": ca_file, "insecure_registries": insecure, "credentials": None, **extra}


def _target(destination: str, prefix: str, ref: str) -> str:
    return f"{destination}/{prefix}/{ref.split('/', 1)[1]}"


def regwire_sync_copy(
    ca_file: str | None,
    source: str,
    destination: str,
    refs: list[str],
    prefix: str,
    concurrency: int = 4,
) -> list[str]:
    with regwire.Client(**_kwargs(ca_file, source, destination)) as client:
        return [
            client.copy(
                f"{source}/{ref}", _target(destination, prefix, ref), concurrency=concurrency
            )
            for ref in refs
        ]


def regwire_async_copy(
    driver: str,
    ca_file: str | None,
    source: str,
    destination: str,
    refs: list[str],
    prefix: str,
    concurrency: int = 16,
) -> list[str]:
    kwargs = _kwargs(ca_file, source, destination, max_connections=concurrency)

    # The images are started together and gated here, with the event loop's own tools rather
    # than the client's private ones, so that the same code drives every regwire tree compared.
    async def one(client: Any, gate: Any, ref: str) -> str:
        async with gate:
            digest: str = await client.copy(f"{source}/{ref}", _target(destination, prefix, ref))
            return digest

    async def main() -> list[str]:
        if driver == "trio":
            import trio

            from regwire.drivers.trio import Client as TrioClient

            async with TrioClient(**kwargs) as client:
                gate, digests = trio.Semaphore(concurrency), [""] * len(refs)

                async def store(i: int) -> None:
                    digests[i] = await one(client, gate, refs[i])

                async with trio.open_nursery() as nursery:
                    for i in range(len(refs)):
                        nursery.start_soon(store, i)
                return digests
        from regwire.drivers.asyncio import Client as AsyncioClient

        async with AsyncioClient(**kwargs) as aclient:
            agate = asyncio.Semaphore(concurrency)
            return list(await asyncio.gather(*(one(aclient, agate, ref) for ref in refs)))

    if driver == "trio":
        import trio

        return trio.run(main)
    return asyncio.run(main())


def _skopeo_tls(ca_file: str | None) -> list[str]:
    if not ca_file:
        return ["--src-tls-verify=false", "--dest-tls-verify=false"]
    directory = tempfile.mkdtemp(prefix="bench-src-certs-")
    os.symlink(ca_file, os.path.join(directory, "ca.crt"))
    return [f"--src-cert-dir={directory}", "--dest-tls-verify=false"]


def skopeo_sync(
    ca_file: str | None, source: str, destination: str, refs: list[str], prefix: str
) -> None:
    """One ``skopeo sync`` process for the whole list (a YAML file naming every image)."""
    by_repo: dict[str, list[str]] = {}
    for ref in refs:
        repo, _, tag = ref.rpartition(":")
        by_repo.setdefault(repo, []).append(tag)
    tls = _skopeo_tls(ca_file)
    # A YAML source takes its TLS settings from the file, not from --src-* flags.
    src_dir = next((t.split("=", 1)[1] for t in tls if t.startswith("--src-cert-dir=")), None)
    lines = [f"{source}:"]
    lines += [f"  cert-dir: {src_dir}"] if src_dir else ["  tls-verify: false"]
    lines += ["  images:"]
    lines += [f"    {repo}: [{', '.join(repr(t) for t in tags)}]" for repo, tags in by_repo.items()]
    forget_blob_locations()
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as file:
        file.write("\n".join(lines) + "\n")
    try:
        done = subprocess.run(
            ["skopeo", "sync", "--all", "--preserve-digests",
             "--dest-tls-verify=false", "--src", "yaml", "--dest", "docker", file.name,
             f"{destination}/{prefix}"],
            capture_output=True, timeout=3600,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"skopeo sync failed: {done.stderr.decode()[-1500:]}")
    finally:
        os.unlink(file.name)


def skopeo_copy_each(
    ca_file: str | None, source: str, destination: str, refs: list[str], prefix: str
) -> None:
    tls = _skopeo_tls(ca_file)
    forget_blob_locations()  # once: within the run, what skopeo learns is fair to use
    for ref in refs:
        subprocess.run(
            ["skopeo", "copy", "--all", "--preserve-digests", "--quiet", *tls,
             f"docker://{source}/{ref}", f"docker://{_target(destination, prefix, ref)}"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
