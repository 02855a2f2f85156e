"""``python -m benchmarks [--quick] [--runs N] [--only 1,2,...]``: every workload, one table.

Starts docker-registry twice on 127.0.0.1 (token auth through the test token server, and no
auth), pushes the corpus (`benchmarks.corpus`), runs each workload for regwire's three drivers
and for the peers (python-dxf, oras, skopeo as scripted per image, a bare http.client loop with
a token fetched beforehand: the ceiling), and prints medians, ratios measured in the same run,
request counts from the registry's access log, and whether each target is met. ``--quick`` runs
every workload once on a tiny corpus (the test suite's smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from benchmarks import clients, core, plain
from benchmarks.corpus import Corpus, Sizes, build
from benchmarks.proxy import ProxyProcess
from tests.harness.distribution import PASSWORD, USER

CREDS = (USER, PASSWORD)


@dataclass
class Row:
    workload: str
    client: str
    median: float
    unit: str = "s"
    requests: int | None = None
    baseline: str | None = None  # the row this one's ratio is taken against
    extra: str = ""
    samples: list[float] = field(default_factory=list)


class Bench:
    def __init__(self, sizes: Sizes, only: set[int]) -> None:
        self.sizes, self.only = sizes, only
        self.rows: list[Row] = []
        self.targets: list[tuple[str, bool | None, str]] = []

    def measure(
        self,
        workload: str,
        name: str,
        fn: Callable[[], Any],
        corpus: Corpus | None = None,
        runs: int | None = None,
        check: Callable[[Any], None] | None = None,
    ) -> Row:
        samples, requests = [], None
        for run in range(runs or self.sizes.runs):
            offset = corpus.registry.log_size() if corpus and run == 0 else 0
            tokens = (
                len(corpus.registry.token_server.requests)
                if corpus and corpus.registry.token_server
                else 0
            )
            started = time.perf_counter()
            result = fn()
            samples.append(time.perf_counter() - started)
            if check is not None:
                check(result)
            if corpus is not None and run == 0:
                time.sleep(0.05)  # let the registry flush its access log
                requests = corpus.registry.requests_since(offset)
                if corpus.registry.token_server:
                    requests += len(corpus.registry.token_server.requests) - tokens
        row = Row(workload, name, statistics.median(samples), requests=requests, samples=samples)
        self.rows.append(row)
        print(f"  {workload:<28} {name:<28} {row.median:8.3f} s  requests={requests}", flush=True)
        return row

    def measure_in_turns(
        self,
        workload: str,
        entries: list[tuple[str, Callable[[], Any], int | None]],
        check: Callable[[Any], None] | None = None,
    ) -> list[Row]:
        """`measure` for several clients of one workload, taking turns run after run (A B C,
        A B C, ...) so that a slow minute on a shared machine lands on every client's samples.
        Each entry is (client, fn, runs); ``runs`` None is the default number of runs."""
        samples: dict[str, list[float]] = {name: [] for name, _, _ in entries}
        for run in range(max(runs or self.sizes.runs for _, _, runs in entries)):
            for name, fn, runs in entries:
                if run >= (runs or self.sizes.runs):
                    continue
                started = time.perf_counter()
                result = fn()
                samples[name].append(time.perf_counter() - started)
                if check is not None:
                    check(result)
        rows = []
        for name, _, _ in entries:
            row = Row(workload, name, statistics.median(samples[name]), samples=samples[name])
            self.rows.append(row)
            rows.append(row)
            print(f"  {workload:<28} {name:<28} {row.median:8.3f} s", flush=True)
        return rows

    def find(self, workload: str, client: str) -> Row | None:
        return next((r for r in self.rows if r.workload == workload and r.client == client), None)

    def target(self, text: str, met: bool | None, detail: str) -> None:
        self.targets.append((text, met, detail))


def workload_inspect(
    bench: Bench, corpus: Corpus, label: str, creds: clients.Creds, with_skopeo: bool
) -> None:
    clients.use_ca(corpus.registry.ca_file)
    refs = corpus.refs()
    a = corpus.authority
    expected: list[str] = []

    def same(result: list[str]) -> None:
        if not expected:
            expected.extend(result)
        elif result != expected:
            raise AssertionError("a client answered different config digests")

    bench.measure(
        label,
        "regwire (blocking)",
        lambda: clients.regwire_sync_inspect(a, creds, refs),
        corpus,
        check=same,
    )
    for driver in ("trio", "asyncio"):
        bench.measure(
            label,
            f"regwire ({driver}, c=16)",
            lambda d=driver: clients.regwire_async_inspect(d, a, creds, refs, 16),
            corpus,
            check=same,
        )
    bench.measure(
        label, "python-dxf", lambda: clients.dxf_inspect(a, creds, refs), corpus, check=same
    )
    bench.measure(label, "oras", lambda: clients.oras_inspect(a, creds, refs), corpus, check=same)
    if with_skopeo:
        bench.measure(
            label,
            "skopeo inspect (per image)",
            lambda: clients.skopeo_inspect(a, creds, refs),
            corpus,
        )
    bare = clients.bare_prepare(a, creds, refs)
    bench.measure(
        label, "http.client (ceiling)", lambda: clients.bare_inspect(bare, refs), corpus, check=same
    )
    for row in bench.rows:
        if row.workload == label:
            row.baseline = "python-dxf"


def workload_tags(bench: Bench, corpus: Corpus) -> None:
    clients.use_ca(corpus.registry.ca_file)
    label, a, repo, n = "2. list tags (n=100)", corpus.authority, corpus.tags_repo, corpus.tag_count

    def exact(count: int) -> None:
        if count != n:
            raise AssertionError(f"{count} tags, expected {n}")

    bench.measure(
        label,
        "regwire (blocking)",
        lambda: clients.regwire_sync_tags(a, CREDS, repo),
        corpus,
        check=exact,
    )
    for driver in ("trio", "asyncio"):
        bench.measure(
            label,
            f"regwire ({driver})",
            lambda d=driver: clients.regwire_async_tags(d, a, CREDS, repo),
            corpus,
            check=exact,
        )
    bench.measure(
        label, "python-dxf", lambda: clients.dxf_tags(a, CREDS, repo), corpus, check=exact
    )
    bench.measure(label, "oras", lambda: clients.oras_tags(a, CREDS, repo), corpus, check=exact)
    bench.measure(
        label, "skopeo list-tags", lambda: clients.skopeo_tags(a, CREDS, repo), corpus, check=exact
    )
    bare = clients.bare_prepare(a, CREDS, [f"{a}/{repo}:x"])
    bench.measure(
        label, "http.client (ceiling)", lambda: clients.bare_tags(bare, repo), corpus, check=exact
    )
    for row in bench.rows:
        if row.workload == label:
            row.baseline = "python-dxf"


def workload_blobs(bench: Bench, corpus: Corpus) -> None:
    clients.use_ca(corpus.registry.ca_file)
    bare = clients.bare_prepare(corpus.authority, CREDS, [f"{corpus.authority}/bench/blobs:x"])
    token = bare.headers.get("Authorization", " ").split(" ", 1)[1]
    for mib, digest in corpus.blobs.items():
        label = f"3. blob {mib} MiB"
        names = ("regwire-sync", "regwire-trio", "regwire-asyncio", "python-dxf", "oras")
        jobs = [
            [client, corpus.authority, USER, PASSWORD, digest, token]
            for client in (*names, "http.client+sha256")
        ]
        job_rows(bench, label, "benchmarks.blobjob", jobs, mib, corpus.registry.ca_file)


def job_rows(
    bench: Bench, label: str, module: str, jobs: list[list[str]], mib: int, ca_file: str | None
) -> list[Row]:
    """Run ``python -m module args`` for each job's args, each run in a fresh process; a row
    per job (its client is ``args[0]``).

    The jobs take turns, run after run (A B C, A B C, ...), so that a slow minute on a shared
    machine lands on every client's samples rather than on one client's row. The job prints
    its wall time and peak RSS as JSON (`benchmarks.blobjob`, `pushjob`).
    """
    samples: list[list[float]] = [[] for _ in jobs]
    rss: list[list[float]] = [[] for _ in jobs]
    for _ in range(bench.sizes.runs):
        for i, args in enumerate(jobs):
            out = subprocess.run(
                [sys.executable, "-m", module, *args],
                env={**os.environ, "BENCH_CA": ca_file or ""},
                capture_output=True,
                check=True,
                text=True,
            ).stdout
            result = json.loads(out)
            samples[i].append(result["seconds"])
            rss[i].append(result["rss_mib"])
    rows = []
    for args, times, peaks in zip(jobs, samples, rss, strict=True):
        median = statistics.median(times)
        row = Row(
            label,
            args[0],
            median,
            baseline="http.client+sha256",
            samples=times,
            extra=f"{mib / median:.0f} MiB/s, peak RSS {max(peaks):.0f} MiB",
        )
        bench.rows.append(row)
        rows.append(row)
        print(f"  {label:<28} {args[0]:<28} {median:8.3f} s  {row.extra}", flush=True)
    return rows


def workload_latency(bench: Bench, corpus: Corpus) -> None:
    clients.use_ca(corpus.registry.ca_file)
    proxy = ProxyProcess(corpus.registry.port, 0.010)
    label = f"4. inspect {bench.sizes.latency_images} images, 20 ms RTT"
    try:
        a = proxy.authority
        refs = [f"{a}/{ref}" for ref in corpus.images[: bench.sizes.latency_images]]
        bench.measure(
            label, "regwire (blocking)", lambda: clients.regwire_sync_inspect(a, CREDS, refs)
        )
        bench.measure(label, "python-dxf", lambda: clients.dxf_inspect(a, CREDS, refs))
        bench.measure(label, "oras", lambda: clients.oras_inspect(a, CREDS, refs))
        for driver in ("trio", "asyncio"):
            for concurrency in (1, 4, 16, 64):
                bench.measure(
                    label,
                    f"regwire ({driver}, c={concurrency})",
                    lambda d=driver, c=concurrency: clients.regwire_async_inspect(
                        d, a, CREDS, refs, c
                    ),
                )
        for row in bench.rows:
            if row.workload == label:
                row.baseline = "python-dxf"
    finally:
        proxy.close()


def workload_core(bench: Bench) -> None:
    result = core.run(
        iterations=50 if bench.sizes.runs == 1 else 2000, repeats=max(bench.sizes.runs, 1) + 2
    )
    label = "5. core, authed image_by_tag"
    bench.rows.append(Row(label, "regwire core", result["core_us"], "us", baseline="h11 parsing"))
    bench.rows.append(Row(label, "h11 parsing", result["h11_us"], "us"))
    print(f"  {core.report(result)}", flush=True)


def workload_processes(bench: Bench, corpus: Corpus) -> None:
    clients.use_ca(corpus.registry.ca_file)
    a, label = corpus.authority, "6. as a process"
    # An installed package has bytecode; this checkout may not (PYTHONDONTWRITEBYTECODE).
    import regwire

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.dirname(regwire.__file__)], check=True
    )
    one = corpus.refs(1)[0]
    creds_args = ["--creds", f"{USER}:{PASSWORD}"]
    bench.measure(
        label, "regwire inspect IMAGE", lambda: clients.regwire_process(["inspect", one], CREDS)
    )
    bench.measure(
        label,
        "skopeo inspect IMAGE",
        lambda: subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", *creds_args, f"docker://{one}"],
            capture_output=True,
            check=True,
        ),
    )
    bench.measure(
        label,
        "regwire tags REPO",
        lambda: clients.regwire_process(["tags", f"{a}/{corpus.tags_repo}"], CREDS),
    )
    bench.measure(
        label, "skopeo list-tags REPO", lambda: clients.skopeo_tags(a, CREDS, corpus.tags_repo)
    )
    bench.measure(
        label,
        f"regwire inspect {len(corpus.images)} images",
        lambda: clients.regwire_process(["inspect", "--no-tags", *corpus.refs()], CREDS),
    )
    bench.measure(
        label,
        "python -c 'import regwire'",
        lambda: subprocess.run([sys.executable, "-c", "import regwire"], check=True),
    )
    bench.measure(
        label,
        "python -c 'pass'",
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
    )


def workload_plain(bench: Bench, corpus: Corpus) -> None:
    """7: a plain-http registry, in-process and as processes, beside python-dxf and requests."""
    clients.use_ca(None)
    a, repo = corpus.authority, corpus.tags_repo
    import regwire

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.dirname(regwire.__file__)], check=True
    )
    label = "7. plain http, tags in-process"
    jobs: list[tuple[str, Callable[[], Any]]] = [
        ("regwire (blocking)", partial(plain.regwire_tags, a, repo)),
        ("python-dxf", partial(plain.dxf_tags, a, repo)),
        ("requests", partial(plain.requests_tags, a, repo)),
    ]
    for name, job in jobs:
        bench.measure(label, name, job, corpus).baseline = "python-dxf"
    digest = corpus.blobs[min(corpus.blobs)]
    label = f"7. plain http, blob {min(corpus.blobs)} MiB in-process"
    jobs = [
        ("regwire (blocking)", partial(plain.regwire_blob, a, digest)),
        ("python-dxf", partial(plain.dxf_blob, a, digest)),
        ("requests", partial(plain.requests_blob, a, digest)),
    ]
    for name, job in jobs:
        bench.measure(label, name, job, corpus).baseline = "python-dxf"
    label = "7. plain http, tags as a process"
    for name in ("regwire", "python-dxf", "requests"):
        job = partial(plain.tags_process, name, a, repo)
        bench.measure(label, name, job, corpus).baseline = "python-dxf"


def workload_push(bench: Bench, corpus: Corpus) -> None:
    """8: upload a blob from a file (plain http, no auth): regwire's drivers and the ceiling."""
    from benchmarks.corpus import WORK

    for mib in bench.sizes.blobs_mib:
        path = WORK / f"push-{mib}"
        with open(path, "wb") as file:
            for _ in range(mib):
                file.write(os.urandom(1 << 20))
        label = f"8. push blob {mib} MiB"
        try:
            peers = ("python-dxf", "oras", "http.client+sha256")
            jobs = [
                [client, corpus.authority, "", "", str(path)]
                for client in ("regwire-sync", "regwire-trio", "regwire-asyncio", *peers)
            ]
            job_rows(bench, label, "benchmarks.pushjob", jobs, mib, None)
        finally:
            path.unlink()


def workload_copy(bench: Bench, corpus: Corpus) -> None:
    """9: copy the corpus (every image and the index) to a second registry, on loopback and
    at 20 ms RTT; each run into a fresh namespace of the destination."""
    from benchmarks import copyjob
    from benchmarks.corpus import WORK
    from tests.harness.distribution import RealRegistry

    refs = list(corpus.images)
    ca = corpus.registry.ca_file
    destination = RealRegistry(WORK / "copy-destination", "none")
    runs = iter(range(10_000))
    with regwire_client(ca, corpus.authority) as client:
        expected = [client.digest(f"{corpus.authority}/{ref}") for ref in refs]

    def fresh() -> str:
        return f"r{next(runs)}"

    try:
        for latency in (False, True):
            src, dst, proxies = corpus.authority, destination.authority, []
            chosen = refs
            if latency:
                proxies = [ProxyProcess(corpus.registry.port), ProxyProcess(destination.port)]
                src, dst = proxies[0].authority, proxies[1].authority
                chosen = refs[: bench.sizes.latency_images]
            label = (
                f"9. copy {len(chosen)} images, 20 ms RTT"
                if latency
                else f"9. copy {len(chosen)} images"
            )
            want = expected[: len(chosen)]

            def check(result: list[str] | None, want: list[str] = want) -> None:
                if result is not None and result != want:
                    raise AssertionError("a copy kept other digests than the source's")

            try:
                entries: list[tuple[str, Callable[[], Any], int | None]] = [
                    (
                        "regwire (blocking)",
                        lambda s=src, d=dst, c=chosen: copyjob.regwire_sync_copy(
                            ca, s, d, c, fresh()
                        ),
                        None,
                    ),
                    (
                        "regwire (blocking, c=1)",
                        lambda s=src, d=dst, c=chosen: copyjob.regwire_sync_copy(
                            ca, s, d, c, fresh(), concurrency=1
                        ),
                        None,
                    ),
                ]
                for driver in ("trio", "asyncio"):
                    entries.append(
                        (
                            f"regwire ({driver}, c=16)",
                            lambda v=driver, s=src, d=dst, c=chosen: copyjob.regwire_async_copy(
                                v, ca, s, d, c, fresh()
                            ),
                            None,
                        )
                    )
                entries.append(
                    (
                        "skopeo sync",
                        lambda s=src, d=dst, c=chosen: copyjob.skopeo_sync(ca, s, d, c, fresh()),
                        1 if latency else None,
                    )
                )
                if not latency:
                    entries.append(
                        (
                            "skopeo copy (per image)",
                            lambda s=src, d=dst, c=chosen: copyjob.skopeo_copy_each(
                                ca, s, d, c, fresh()
                            ),
                            1,
                        )
                    )
                bench.measure_in_turns(label, entries, check=check)
            finally:
                for proxy in proxies:
                    proxy.close()
            for row in bench.rows:
                if row.workload == label:
                    row.baseline = "skopeo sync"
    finally:
        destination.close()


def workload_big_copy(bench: Bench, corpus: Corpus) -> None:
    """10: copy one image with a large layer (the largest blob of the sizes) to a second
    registry: regwire's drivers and skopeo copy, each in a fresh process (peak RSS)."""
    import hashlib

    from benchmarks.corpus import WORK
    from tests.harness.distribution import RealRegistry

    mib = max(corpus.blobs)
    source = corpus.registry
    layer = corpus.blobs[mib]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}}).encode()
    path = WORK / "big-config"
    path.write_bytes(config)
    config_digest = source.put_blob("bench/blobs", path)
    path.unlink()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer,
                    "size": mib << 20,
                }
            ],
        }
    ).encode()
    source.put_manifest(
        "bench/blobs", "big", manifest, "application/vnd.oci.image.manifest.v1+json"
    )
    expected = "sha256:" + hashlib.sha256(manifest).hexdigest()
    destination = RealRegistry(WORK / "big-destination", "none")
    label = f"10. copy an image of {mib} MiB"
    try:
        for client in ("regwire-sync", "regwire-trio", "regwire-asyncio", "skopeo"):
            samples, rss = [], []
            for run in range(bench.sizes.runs):
                done = subprocess.run(
                    [sys.executable, "-m", "benchmarks.bigcopyjob", client,
                     f"{source.authority}/bench/blobs:big",
                     f"{destination.authority}/{client}/run{run}:big"],
                    capture_output=True, text=True,
                )  # fmt: skip
                if done.returncode:
                    raise RuntimeError(f"{client}: {done.stderr[-2000:]}")
                result = json.loads(done.stdout)
                if result["digest"] and result["digest"] != expected:
                    raise AssertionError(f"{client} wrote another digest")
                samples.append(result["seconds"])
                rss.append(result["rss_mib"])
            median = statistics.median(samples)
            row = Row(
                label,
                client,
                median,
                baseline="skopeo",
                samples=samples,
                extra=f"{mib / median:.0f} MiB/s, peak RSS {max(rss):.0f} MiB",
            )
            bench.rows.append(row)
            print(f"  {label:<28} {client:<28} {median:8.3f} s  {row.extra}", flush=True)
    finally:
        destination.close()


def workload_layout_round_trip(bench: Bench, corpus: Corpus) -> None:
    """11: every image of the corpus saved to an OCI layout, then pushed back."""
    from benchmarks import roundtrips

    refs = list(corpus.images)
    ca = corpus.registry.ca_file
    label = f"11. {len(refs)} images to a layout and back"
    runs = iter(range(10_000))
    bench.measure(
        label,
        "regwire (blocking)",
        lambda: roundtrips.regwire_layout_round_trip(ca, corpus.authority, refs, f"l{next(runs)}"),
    )
    bench.measure(
        label,
        "skopeo copy (per image)",
        lambda: roundtrips.skopeo_layout_round_trip(ca, corpus.authority, refs, f"l{next(runs)}"),
        runs=1,
    )
    for row in bench.rows:
        if row.workload == label:
            row.baseline = "skopeo copy (per image)"


def workload_artifact(bench: Bench, corpus: Corpus) -> None:
    """12: push an artifact of 10 small files, as a process (imports included)."""
    from benchmarks import roundtrips

    paths = roundtrips.write_files(10)
    label = "12. push an artifact of 10 files"
    runs = iter(range(10_000))
    a = corpus.authority
    bench.measure(
        label,
        "regwire push",
        lambda: roundtrips.regwire_push_artifact(a, paths, f"bench/artifact-r{next(runs)}:v1"),
    )
    bench.measure(
        label,
        "oras-py push",
        lambda: roundtrips.oras_push_artifact(a, paths, f"bench/artifact-o{next(runs)}:v1"),
    )
    for row in bench.rows:
        if row.workload == label:
            row.baseline = "oras-py push"


def regwire_client(ca_file: str | None, authority: str) -> Any:
    import regwire

    if ca_file:
        return regwire.Client(ca_file=ca_file, credentials=None)
    return regwire.Client(insecure_registries=[authority], credentials=None)


def judge(bench: Bench) -> None:
    def t(w: str, c: str) -> float | None:
        row = bench.find(w, c)
        return None if row is None else row.median

    for row in bench.rows:  # 10: one large image, against skopeo copy
        if row.workload.startswith("10. ") and row.client.startswith("regwire"):
            skopeo = bench.find(row.workload, "skopeo")
            rss = float(row.extra.split("peak RSS ")[1].split()[0])
            if skopeo is not None:
                ratio = skopeo.median / row.median
                bench.target(
                    f"{row.client} large copy >= 1.0x skopeo copy's MiB/s",
                    ratio >= 1.0,
                    f"{ratio:.2f}x",
                )
            bench.target(f"{row.client} large copy peak RSS < 64 MiB", rss < 64, f"{rss:.0f} MiB")
    for row in bench.rows:  # 9: copies, against skopeo sync in the same run
        if not row.workload.startswith("9. ") or row.client != "skopeo sync":
            continue
        latency = "RTT" in row.workload
        sync_row = bench.find(row.workload, "regwire (blocking)")
        if sync_row is not None and not latency:
            ratio = row.median / sync_row.median
            bench.target(
                "copy: the blocking driver no slower than skopeo sync",
                ratio >= 1.0,
                f"{ratio:.2f}x",
            )
        for driver in ("trio", "asyncio"):
            found = bench.find(row.workload, f"regwire ({driver}, c=16)")
            if found is None:
                continue
            ratio, wanted = row.median / found.median, 10.0 if latency else 3.0
            where = "at 20 ms RTT" if latency else "on loopback"
            bench.target(
                f"copy: {driver} at c=16 >= {wanted:.0f}x skopeo sync {where}",
                ratio >= wanted,
                f"{ratio:.1f}x",
            )
    w1 = "1. inspect, token auth"
    dxf, sync = t(w1, "python-dxf"), t(w1, "regwire (blocking)")
    if dxf and sync:
        bench.target(
            "blocking driver >= 1.8x python-dxf (workload 1, token auth)",
            dxf / sync >= 1.8,
            f"{dxf / sync:.2f}x",
        )
    for driver in ("trio", "asyncio"):
        value = t(w1, f"regwire ({driver}, c=16)")
        if dxf and value:
            bench.target(
                f"{driver} at c=16 >= 3x python-dxf (workload 1)",
                dxf / value >= 3,
                f"{dxf / value:.2f}x",
            )
    w4 = f"4. inspect {bench.sizes.latency_images} images, 20 ms RTT"
    sequential = [v for v in (t(w4, "python-dxf"), t(w4, "oras")) if v]
    for driver in ("trio", "asyncio"):
        value = t(w4, f"regwire ({driver}, c=16)")
        if sequential and value:
            best = min(sequential)
            bench.target(
                f"{driver} at c=16 >= 10x the fastest sequential peer at 20 ms RTT",
                best / value >= 10,
                f"{best / value:.1f}x",
            )
    for mib in bench.sizes.blobs_mib:
        w3 = f"3. blob {mib} MiB"
        ceiling = t(w3, "http.client+sha256")
        for client in ("regwire-sync", "regwire-trio", "regwire-asyncio"):
            value = t(w3, client)
            if ceiling and value:
                bench.target(
                    f"{client} blob {mib} MiB >= 90% of http.client+sha256",
                    ceiling / value >= 0.9,
                    f"{100 * ceiling / value:.0f}%",
                )
        if mib == max(bench.sizes.blobs_mib):
            for row in bench.rows:
                if row.workload == w3 and row.client.startswith("regwire"):
                    rss = float(row.extra.split("peak RSS ")[1].split()[0])
                    bench.target(
                        f"{row.client} peak RSS < 64 MiB at {mib} MiB", rss < 64, f"{rss:.0f} MiB"
                    )
    core_us, h11_us = (
        t("5. core, authed image_by_tag", "regwire core"),
        t("5. core, authed image_by_tag", "h11 parsing"),
    )
    if core_us and h11_us:
        bench.target(
            "core cost < h11 parsing cost", core_us < h11_us, f"{core_us:.0f} us vs {h11_us:.0f} us"
        )
    for w7, ratio in (
        ("7. plain http, tags in-process", 1.2),
        (f"7. plain http, blob {min(bench.sizes.blobs_mib)} MiB in-process", 1.2),
        ("7. plain http, tags as a process", 1.0),
    ):
        ours, theirs = t(w7, "regwire (blocking)") or t(w7, "regwire"), t(w7, "python-dxf")
        if ours and theirs:
            bench.target(
                f"{w7[len('7. plain http, ') :]}: within {ratio}x python-dxf",
                ours <= ratio * theirs,
                f"{ours / theirs:.2f}x ({1000 * ours:.0f} ms vs {1000 * theirs:.0f} ms)",
            )
        rows = [r for r in bench.rows if r.workload == w7 and r.client.startswith("regwire")]
        if rows and rows[0].requests is not None and "tags" in w7:
            bench.target(
                f"{w7[len('7. plain http, ') :]}: one request to the registry",
                rows[0].requests == 1,
                f"{rows[0].requests} logged (the https attempt is refused before HTTP)",
            )
    for mib in bench.sizes.blobs_mib:
        w8 = f"8. push blob {mib} MiB"
        ceiling = t(w8, "http.client+sha256")
        for client in ("regwire-sync", "regwire-trio", "regwire-asyncio"):
            value = t(w8, client)
            if ceiling and value:
                bench.target(
                    f"{client} push {mib} MiB >= 90% of http.client+sha256",
                    ceiling / value >= 0.9,
                    f"{100 * ceiling / value:.0f}%",
                )
            peers = [p for p in (t(w8, "python-dxf"), t(w8, "oras")) if p]
            if value and peers:
                fastest = min(peers)
                bench.target(
                    f"{client} push {mib} MiB ahead of python-dxf and oras",
                    value <= fastest,
                    f"{fastest / value:.2f}x the faster of them",
                )
        for row in bench.rows:
            if row.workload == w8 and row.client.startswith("regwire"):
                rss = float(row.extra.split("peak RSS ")[1].split()[0])
                bench.target(
                    f"{row.client} push {mib} MiB peak RSS < 64 MiB", rss < 64, f"{rss:.0f} MiB"
                )
    w6 = "6. as a process"
    ours, theirs = t(w6, "regwire tags REPO"), t(w6, "skopeo list-tags REPO")
    if ours and theirs:
        bench.target(
            "regwire tags no slower than skopeo list-tags",
            ours <= theirs,
            f"{ours:.3f} s vs {theirs:.3f} s",
        )
    imp, bare = t(w6, "python -c 'import regwire'"), t(w6, "python -c 'pass'")
    if imp and bare:
        bench.target(
            "import regwire well under 50 ms", imp - bare < 0.05, f"{1000 * (imp - bare):.0f} ms"
        )
    many = next(
        (
            r.median
            for r in bench.rows
            if r.workload == w6 and r.client.startswith("regwire inspect") and "images" in r.client
        ),
        None,
    )
    skopeo = t(w1, "skopeo inspect (per image)")
    if many and skopeo:
        bench.target(
            "regwire inspect of every image in one process >= 10x skopeo scripted",
            skopeo / many >= 10,
            f"{skopeo / many:.1f}x",
        )


def table(bench: Bench) -> str:
    lines = ["| workload | client | median | vs | requests | notes |", "|---|---|---|---|---|---|"]
    for row in bench.rows:
        ratio = ""
        if row.baseline:
            base = bench.find(row.workload, row.baseline)
            if base is not None and row.median > 0:
                ratio = (
                    f"{base.median / row.median:.2f}x {row.baseline}"
                    if row.client != row.baseline
                    else "1.00x"
                )
        value = f"{row.median:.3f} s" if row.unit == "s" else f"{row.median:.1f} us"
        requests = "" if row.requests is None else str(row.requests)
        lines.append(
            f"| {row.workload} | {row.client} | {value} | {ratio} | {requests} | {row.extra} |"
        )
    lines.append("")
    lines.append("| target | result | met |")
    lines.append("|---|---|---|")
    for text, met, detail in bench.targets:
        lines.append(f"| {text} | {detail} | {'met' if met else 'missed'} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny corpus, one run (smoke)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10,11,12", help="workloads to run")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes(runs=args.runs)
    only = {int(w) for w in args.only.split(",")}
    bench = Bench(sizes, only)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"{sizes.images} images, {sizes.tags} tags, blobs {sizes.blobs_mib} MiB, {sizes.runs} runs",
        flush=True,
    )
    if 5 in only:
        workload_core(bench)
    corpora: list[Corpus] = []
    try:
        if only & {1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12}:
            token = None
            if only & {1, 2, 3, 4, 6}:
                started = time.perf_counter()
                token = build("token", sizes)
                corpora.append(token)
                elapsed = time.perf_counter() - started
                print(f"  corpus (token auth) pushed in {elapsed:.1f} s", flush=True)
            open_corpus = None
            if only & {1, 9, 11}:
                open_corpus = build(
                    "none", Sizes(images=sizes.images, tags=2, blobs_mib=(), runs=sizes.runs)
                )
                corpora.append(open_corpus)
            if 1 in only:
                assert token is not None
                workload_inspect(bench, token, "1. inspect, token auth", CREDS, with_skopeo=True)
                assert open_corpus is not None
                workload_inspect(bench, open_corpus, "1. inspect, no auth", None, with_skopeo=False)
            if 9 in only:
                assert open_corpus is not None
                workload_copy(bench, open_corpus)
            if 11 in only:
                assert open_corpus is not None
                workload_layout_round_trip(bench, open_corpus)
            if only & {7, 8, 10, 12}:
                plain_sizes = Sizes(
                    images=1,
                    tags=sizes.tags,
                    blobs_mib=sizes.blobs_mib if 10 in only else sizes.blobs_mib[:1],
                    runs=sizes.runs,
                )
                plain_corpus = build("none", plain_sizes, tls=False, name="plain")
                corpora.append(plain_corpus)
                if 7 in only:
                    workload_plain(bench, plain_corpus)
                if 8 in only:
                    workload_push(bench, plain_corpus)
                if 10 in only:
                    workload_big_copy(bench, plain_corpus)
                if 12 in only:
                    workload_artifact(bench, plain_corpus)
            if 2 in only:
                assert token is not None
                workload_tags(bench, token)
            if 3 in only:
                assert token is not None
                workload_blobs(bench, token)
            if 4 in only:
                assert token is not None
                workload_latency(bench, token)
            if 6 in only:
                assert token is not None
                workload_processes(bench, token)
    finally:
        for corpus in corpora:
            corpus.registry.close()
    judge(bench)
    print()
    print(table(bench))
    if args.json:
        with open(args.json, "w") as file:
            json.dump([row.__dict__ for row in bench.rows], file, indent=1)
    return 0


sys.exit(main(sys.argv[1:]))
