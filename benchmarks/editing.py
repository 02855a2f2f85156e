"""``python -m benchmarks.editing [--smoke] [--mib N] [--images N]``: editing images (issue 30).

Two workloads, each contender in a fresh process so that its peak RSS (``wait4``) is its own:

- append a directory (many small files and a few big ones, ``--mib`` in all, half of it
  compressible) to an image in an ``oci:`` layout: regwire's ``append`` (gzip level 6), ``umoci
  insert`` (one layer in one step, gzip with several threads), and the baseline of Python's
  ``tarfile`` + ``gzip`` at the same level writing the same tar to a file (the ceiling of that
  compressor in Python); MiB/s of the directory's bytes;
- mutate the labels of ``--images`` images in the real docker-registry (regwire's ``mutate``,
  one after another, in one process) against a loop of ``umoci config`` on a layout holding the
  same images; images per second.

``--smoke`` runs both on a tiny corpus (the test suite's smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def _child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; its JSON line, its wall time and its peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    out = process.stdout.read() if process.stdout else b""
    err = process.stderr.read() if process.stderr else b""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"child failed: {err.decode()[-2000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    cpu = usage.ru_utime + usage.ru_stime
    return {**result, "process_s": wall, "cpu_s": cpu, "rss_mib": usage.ru_maxrss / 1024}


def _tool(*argv: str) -> dict[str, Any]:
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    err = process.stderr.read() if process.stderr else b""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[0]} failed: {err.decode()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": wall, "cpu_s": cpu, "rss_mib": usage.ru_maxrss / 1024}


# -- the corpus ---------------------------------------------------------------------------------


def make_tree(root: Path, total: int, seed: int = 30) -> int:
    """A directory of ``total`` bytes: three quarters in many small files (1-64 KiB, text-like
    and random halves), the rest in four big files; returns the bytes written."""
    rng = random.Random(seed)
    words = b" ".join(
        rng.choice([b"layer", b"image", b"model", b"weights", b"0.5", b"config"])
        for _ in range(4096)
    )
    written, index = 0, 0
    small_budget = total * 3 // 4
    while written < small_budget:
        size = rng.randint(1024, 64 * 1024)
        folder = root / f"d{index % 64:02d}" / f"s{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size) if index % 2 else (words * (size // len(words) + 1))[:size]
        (folder / f"f{index:06d}.bin").write_bytes(data)
        written += size
        index += 1
    big = (total - written) // 4
    for i in range(4):
        with open(root / f"big{i}.bin", "wb") as file:
            left = big
            while left > 0:
                piece = min(left, 4 * MiB)
                half = piece // 2
                text = (words * (piece // len(words) + 1))[: piece - half]
                chunk = rng.randbytes(half) + text
                file.write(chunk)
                left -= len(chunk)
        written += big
    return written


def _base_layout(layout: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.harness.distribution import image_manifest, write_layout

    write_layout(layout, {"base": image_manifest(layout, seed="bench", layers=1)})


_REGWIRE_APPEND = """
import json, sys, time
import regwire
layout, tree = sys.argv[1], sys.argv[2]
start = time.perf_counter()
with regwire.Client() as client:
    client.append(f"oci:{layout}:base", destination=f"oci:{layout}:regwire", layers=[tree], time="0")
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

_BASELINE = """
import json, os, sys, tarfile, time
tree, out = sys.argv[1], sys.argv[2]
start = time.perf_counter()

def walk(root, prefix=""):
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        yield entry.path, prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from walk(entry.path, prefix + entry.name + "/")

def fixed(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info

with tarfile.open(out, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
    for path, name in walk(tree):
        tar.add(path, arcname=name, recursive=False, filter=fixed)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def append_workload(work: Path, total: int) -> list[dict[str, Any]]:
    tree = work / "tree"
    size = make_tree(tree, total)
    rows = []
    layout = work / "regwire"
    _base_layout(layout)
    result = _child(_REGWIRE_APPEND, str(layout), str(tree))
    rows.append({"who": "regwire append (gzip 6)", **result})
    umoci_layout = work / "umoci"
    _base_layout(umoci_layout)
    result = _tool(
        "umoci", "insert", "--image", f"{umoci_layout}:base", "--tag", "umoci", str(tree), "/"
    )
    rows.append({"who": "umoci insert", **result})
    result = _child(_BASELINE, str(tree), str(work / "baseline.tar.gz"))
    rows.append({"who": "tarfile + gzip 6 (baseline)", **result})
    for row in rows:
        row["mib_s"] = size / MiB / row["seconds"]
        row["mib"] = size / MiB
    return rows


# -- mutate -------------------------------------------------------------------------------------

_REGWIRE_MUTATE = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import regwire
authority, count, at_once = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with regwire.Client(insecure_registries=[authority]) as client:
    client.digest(f"{authority}/bench/edit:i0")  # the connection and the API learnt first
    start = time.perf_counter()
    def one(i):
        client.mutate(f"{authority}/bench/edit:i{i}", labels={"org.example.bumped": str(at_once)})
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(one, range(count)))
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def mutate_workload(work: Path, count: int) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from regwire import Client
    from tests.harness.distribution import RealRegistry, image_manifest, write_layout

    layout = work / "images"
    write_layout(
        layout,
        {f"i{i}": image_manifest(layout, seed=f"image {i}", layers=1) for i in range(count)},
    )
    rows = []
    real = RealRegistry(work / "registry", "none")
    try:
        with Client(insecure_registries=[real.authority]) as client:
            for i in range(count):
                client.copy(f"oci:{layout}:i{i}", f"{real.authority}/bench/edit:i{i}")
        for at_once in (1, 8):
            result = _child(_REGWIRE_MUTATE, real.authority, str(count), str(at_once))
            rows.append({"who": f"regwire mutate (registry, {at_once} at once)", **result})
    finally:
        real.close()
    start = time.perf_counter()
    peak, cpu = 0.0, 0.0
    for i in range(count):
        one = _tool(
            "umoci",
            "config",
            "--image",
            f"{layout}:i{i}",
            "--config.label",
            "org.example.bumped=yes",
        )
        peak, cpu = max(peak, one["rss_mib"]), cpu + one["cpu_s"]
    rows.append(
        {
            "who": "umoci config loop (layout)",
            "seconds": time.perf_counter() - start,
            "cpu_s": cpu,
            "rss_mib": peak,
        }
    )
    for row in rows:
        row["images_s"] = count / row["seconds"]
        row["count"] = count
    return rows


def report(append_rows: list[dict[str, Any]], mutate_rows: list[dict[str, Any]]) -> str:
    lines = ["| workload | who | rate | CPU s | peak RSS MiB |", "|---|---|---|---|---|"]
    for row in append_rows:
        lines.append(
            f"| append {row['mib']:.0f} MiB dir | {row['who']} | {row['mib_s']:.1f} MiB/s "
            f"| {row['cpu_s']:.1f} | {row['rss_mib']:.0f} |"
        )
    for row in mutate_rows:
        lines.append(
            f"| mutate {row['count']} images' labels | {row['who']} | "
            f"{row['images_s']:.1f} images/s | {row['cpu_s']:.1f} | {row['rss_mib']:.0f} |"
        )
    lines.append("")
    if append_rows:
        ours = next(r for r in append_rows if r["who"].startswith("regwire"))
        umoci = next(r for r in append_rows if r["who"].startswith("umoci"))
        base = next(r for r in append_rows if "baseline" in r["who"])
        lines.append(
            f"append: regwire/umoci {ours['mib_s'] / umoci['mib_s']:.2f}x (target > 1), "
            f"regwire/baseline time {ours['seconds'] / base['seconds']:.2f}x (target <= 1.2), "
            f"regwire peak RSS {ours['rss_mib']:.0f} MiB"
        )
    if mutate_rows:
        mine = max(
            (r for r in mutate_rows if r["who"].startswith("regwire")),
            key=lambda r: r["images_s"],
        )
        theirs = next(r for r in mutate_rows if r["who"].startswith("umoci"))
        lines.append(f"mutate: regwire/umoci {mine['images_s'] / theirs['images_s']:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.editing", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny corpus, once")
    parser.add_argument("--mib", type=int, default=256, help="the directory appended, in MiB")
    parser.add_argument("--images", type=int, default=100, help="images mutated")
    parser.add_argument("--only", choices=["append", "mutate"], help="one workload alone")
    args = parser.parse_args(argv)
    mib, images = (4, 5) if args.smoke else (args.mib, args.images)
    work = Path(tempfile.mkdtemp(prefix="regwire-bench-editing-"))
    try:
        append_rows = [] if args.only == "mutate" else append_workload(work / "append", mib * MiB)
        mutate_rows = [] if args.only == "append" else mutate_workload(work / "mutate", images)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(append_rows, mutate_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
