"""A smoke run of every benchmark workload, so that none can rot (no timing is asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import core
from benchmarks.compare import ROOT, TREE_ENV


def test_core_benchmark_runs() -> None:
    result = core.run(iterations=3, repeats=1)
    assert result["requests"] == 4  # manifest (401: the probe), token, manifest, config
    assert result["core_us"] > 0 and result["h11_us"] > 0
    assert "us per authed image_by_tag" in core.report(result)


def test_every_workload_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BENCH_WORK": str(tmp_path)},  # not the .work of a run beside us
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout
    for label in (
        "1. inspect, token auth",
        "1. inspect, no auth",
        "2. list tags",
        "3. blob 4 MiB",
        "4. inspect 4 images, 20 ms RTT",
        "5. core",
        "6. as a process",
        "7. plain http, tags in-process",
        "7. plain http, blob 1 MiB in-process",
        "7. plain http, tags as a process",
        "8. push blob 1 MiB",
        "8. push blob 4 MiB",
        "9. copy 7 images",
        "9. copy 4 images, 20 ms RTT",
        "10. copy an image of 4 MiB",
        "11. 7 images to a layout and back",
        "12. push an artifact of 10 files",
    ):
        assert label in table, label
    for client in (
        "regwire (blocking)",
        "python-dxf",
        "oras",
        "skopeo inspect (per image)",
        "http.client (ceiling)",
        "regwire (trio, c=64)",
    ):
        assert f"| {client} |" in table, client
    # regwire asks no more than probe + one token + the ceiling's requests
    ceiling = next(
        line
        for line in table.splitlines()
        if line.startswith("| 1. inspect, token auth | http.client (ceiling)")
    )
    ours = next(
        line
        for line in table.splitlines()
        if line.startswith("| 1. inspect, token auth | regwire (blocking)")
    )
    assert int(ours.split("|")[5]) == int(ceiling.split("|")[5]) + 2


def test_first_call_benchmark_runs() -> None:
    """``python -m benchmarks.firstcall --smoke``: a fresh client's first call, per process."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.firstcall", "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| regwire (Client imported first) |" in done.stdout


def _tree(root: Path, init: str | None = None) -> Path:
    """Another checkout's regwire: a copy of ours (or a stand-in package of one file)."""
    if init is None:
        shutil.copytree(ROOT / "regwire", root / "regwire", ignore=shutil.ignore_patterns("*.pyc"))
    else:
        (root / "regwire").mkdir(parents=True)
        (root / "regwire" / "__init__.py").write_text(init)
    return root


def _load(tree: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,  # this checkout's regwire first on sys.path, as for python -m benchmarks
        env={**os.environ, TREE_ENV: str(tree)},
        timeout=60,
    )


def test_a_compared_child_imports_regwire_from_its_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "before", init="WHO = 'before'\n")
    done = _load(
        tree,
        "from benchmarks.compare import load_regwire; where = load_regwire(); "
        "import regwire, benchmarks; print(where, regwire.WHO, benchmarks.__file__)",
    )
    assert done.returncode == 0, done.stderr
    where, who, benchmarks_file = done.stdout.split()
    assert where == str(tree.resolve() / "regwire" / "__init__.py")
    assert who == "before"
    assert benchmarks_file.startswith(str(ROOT))  # only regwire comes from the tree


def test_a_compared_child_refuses_a_regwire_from_elsewhere(tmp_path: Path) -> None:
    """A regwire imported before `load_regwire` (here, ours) would measure the wrong code."""
    tree = _tree(tmp_path / "before", init="")
    done = _load(
        tree, "import regwire; from benchmarks.compare import load_regwire; load_regwire()"
    )
    assert done.returncode != 0
    assert f"regwire was imported from {ROOT / 'regwire'}" in done.stderr
    assert f"not from {tree.resolve()}" in done.stderr


def test_compare_refuses_a_tree_without_regwire(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--compare", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "no regwire/__init__.py there" in done.stderr


@pytest.mark.parametrize("only", ["2", "1,6"])
def test_compare_refuses_workloads_it_does_not_split(only: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", only, "--compare", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "--compare measures workloads 1, 3, 8, 9 and 10" in done.stderr


def test_compare_mode_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    """``--compare TREE`` on the quick corpus (about 30 s): TREE is a copy of our regwire, so
    every row must exist twice, and the children must have run the copy (else they fail)."""
    tree = _tree(tmp_path / "before")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--compare", str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "BENCH_WORK": str(tmp_path / "work")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"comparing regwire before: {tree.resolve()} at " in done.stdout
    table = done.stdout.split("| after/before |")[-1]
    expected = {
        "1. inspect, token auth": ["regwire (blocking)", "regwire (trio, c=16)"],
        "1. inspect, no auth": ["regwire (asyncio, c=16)"],
        "3. blob 4 MiB": ["regwire-sync", "regwire-trio", "regwire-asyncio"],
        "8. push blob 1 MiB": ["regwire-sync", "regwire-trio", "regwire-asyncio"],
        "9. copy 7 images": ["regwire (blocking)", "regwire (blocking, c=1)"],
        "9. copy 4 images, 20 ms RTT": ["regwire (trio, c=16)", "regwire (asyncio, c=16)"],
        "10. copy an image of 4 MiB": ["regwire-sync", "regwire-trio", "regwire-asyncio"],
    }
    for workload, names in expected.items():
        for name in names:
            assert f"| {workload} | {name} | " in table, (workload, name)
            assert f"| {workload} | {name} (before) | " in done.stdout, (workload, name)
    inspect = next(line for line in table.splitlines() if "| 1. inspect, token auth |" in line)
    requests = inspect.rstrip(" |").rsplit("|", 1)[1].strip()
    before, after = requests.split("/")
    assert before == after and int(after) > 0  # the same code asks the same requests
    for peer in ("python-dxf", "oras", "skopeo", "http.client"):
        assert f"| {peer}" not in done.stdout, peer  # the peers are left out


def test_key_check_benchmark_runs() -> None:
    """``python -m benchmarks.keys --smoke``: the CPU of one signature check per key type."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.keys", "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for kind in ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-4096", "ed25519"):
        assert f"| {kind} | regwire verifies |" in done.stdout, kind
    assert "| decrypt cosign.key (once per sign) |" in done.stdout


def test_verify_benchmark_runs() -> None:
    """``python -m benchmarks.trust --smoke``: 5 signed images on the real docker-registry,
    verified and inspected by every client and by the floor, by digest and by tag."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.trust", "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    regwire = [
        "regwire (trio, c=16)",
        "regwire (asyncio, c=16)",
        "regwire (blocking, 16 threads)",
        "regwire (blocking, sequential)",
    ]
    floors = ["http.client (floor, 16 connections)", "http.client (floor, sequential)"]
    for way in ("by digest", "by tag"):
        for client in regwire + floors:
            assert f"| verify, {way} | {client} |" in done.stdout, (way, client)
        for client in regwire:
            assert f"| inspect, {way} | {client} |" in done.stdout, (way, client)
        # every verify row of regwire checks its requests against the target
        for client in regwire:
            assert f"verify, {way}, {client}: " in done.stdout, (way, client)
    assert "one signature check (ecdsa-p256): regwire " in done.stdout


def test_editing_benchmark_runs() -> None:
    """``python -m benchmarks.editing --smoke``: append a directory (regwire, umoci insert,
    tarfile + gzip) and mutate images' labels (regwire on the real registry, umoci config)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.editing", "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in (
        "| regwire append (gzip 6) |",
        "| umoci insert |",
        "| tarfile + gzip 6 (baseline) |",
        "| regwire mutate (registry, 8 at once) |",
        "| umoci config loop (layout) |",
    ):
        assert row in done.stdout, row


def test_archives_benchmark_runs() -> None:
    """``python -m benchmarks.archives --smoke``: an 8 MiB image into a docker-archive and back
    (regwire's three clients and skopeo, each copy a process of its own)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.archives", "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for direction in ("registry -> docker-archive", "docker-archive -> registry"):
        for client in ("regwire-sync", "regwire-trio", "regwire-asyncio", "skopeo"):
            assert f"| {direction} | {client} |" in done.stdout, (direction, client)
