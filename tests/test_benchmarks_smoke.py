"""A smoke run of every benchmark workload, so that none can rot (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys

from benchmarks import core


def test_core_benchmark_runs() -> None:
    result = core.run(iterations=3, repeats=1)
    assert result["requests"] == 4  # manifest (401: the probe), token, manifest, config
    assert result["core_us"] > 0 and result["h11_us"] > 0
    assert "us per authed image_by_tag" in core.report(result)


def test_every_workload_runs_on_a_tiny_corpus() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"], capture_output=True, text=True, timeout=600
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
