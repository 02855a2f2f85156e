"""The benchmark corpus, pushed to real docker-registry instances on 127.0.0.1.

Two registries (no auth; token auth through our JWT token server), each holding: N single-tag
repositories (alternately OCI and Docker schema2, each with its own labels, env and cmd), pushed
with ``skopeo copy``; a multi-arch index (skopeo ``--all``); one repository with T tags (the first
pushed with skopeo, the rest tagged through the API, which is 100x quicker than a skopeo process
per tag); and blobs of the asked sizes (uploaded through the API from random files).
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.distribution import (
    RealRegistry,
    image_manifest,
    index_descriptor,
    write_layout,
)

# BENCH_WORK moves the registries' storage and scratch files elsewhere, so that two runs on one
# machine (a smoke test beside a real run) do not remove each other's registries.
WORK = Path(os.environ.get("BENCH_WORK") or Path(__file__).parent / ".work")


@dataclass
class Sizes:
    images: int = 200
    tags: int = 2000
    blobs_mib: tuple[int, ...] = (64, 1024)
    runs: int = 5
    latency_images: int = 50

    @classmethod
    def quick(cls) -> Sizes:
        return cls(images=6, tags=30, blobs_mib=(1, 4), runs=1, latency_images=4)


@dataclass
class Corpus:
    registry: RealRegistry
    images: list[str]  # "repo:tag", the single-image repositories and the index
    tags_repo: str
    tag_count: int
    blobs: dict[int, str] = field(default_factory=dict)  # MiB -> digest, in "bench/blobs"

    @property
    def authority(self) -> str:
        return self.registry.authority

    def refs(self, count: int | None = None) -> list[str]:
        chosen = self.images if count is None else self.images[:count]
        return [f"{self.authority}/{ref}" for ref in chosen]


def build(
    mode: str, sizes: Sizes, root: Path = WORK, tls: bool = True, name: str | None = None
) -> Corpus:
    """Start a registry in ``mode`` and push the corpus into it (under ``root/name``)."""
    directory = root / (name or mode)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    registry = RealRegistry(directory / "server", mode, access_log=True, tls=tls)  # type: ignore[arg-type]
    try:
        layout = directory / "layout"
        entries = {}
        for i in range(sizes.images):
            entries[f"img{i:03}"] = image_manifest(
                layout,
                config={
                    "Labels": {"org.opencontainers.image.version": f"1.{i}", "bench": "yes"},
                    "Env": ["PATH=/usr/bin:/bin", f"INDEX={i}"],
                    "Cmd": ["/bin/app", f"--id={i}"],
                },
                seed=f"img{i}",
                layers=2,
            )
        children = [
            image_manifest(layout, arch=arch, variant=variant, seed="multi")
            for arch, variant in (("amd64", None), ("arm64", "v8"), ("arm", "v7"), ("s390x", None))
        ]
        entries["multi"] = index_descriptor(layout, children)
        entries["tagged"] = image_manifest(layout, seed="tagged")
        write_layout(layout, entries)

        def push(i: int) -> str:
            ref = f"bench/img{i:03}:latest"
            registry.push(layout, ref, tag=f"img{i:03}", fmt=None if i % 2 == 0 else "v2s2")
            return ref

        with ThreadPoolExecutor(4) as pool:
            images = list(pool.map(push, range(sizes.images)))
        registry.push(layout, "bench/multi:latest", tag="multi", all_images=True)
        images.append("bench/multi:latest")
        registry.push(layout, "bench/tags:t0000", tag="tagged")
        digest = entries["tagged"]["digest"].split(":")[1]
        raw = (layout / "blobs" / "sha256" / digest).read_bytes()
        media_type = entries["tagged"]["mediaType"]
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda t: registry.put_manifest("bench/tags", f"t{t:04}", raw, media_type),
                    range(1, sizes.tags),
                )
            )
        corpus = Corpus(registry, images, "bench/tags", sizes.tags)
        for mib in sizes.blobs_mib:
            path = directory / f"blob-{mib}"
            with open(path, "wb") as file:
                for _ in range(mib):
                    file.write(os.urandom(1 << 20))
            corpus.blobs[mib] = registry.put_blob("bench/blobs", path)
            path.unlink()
        shutil.rmtree(layout)
        return corpus
    except BaseException:
        registry.close()
        raise
