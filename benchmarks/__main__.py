"""``python -m benchmarks [--quick] [--runs N] [--only 1,2,...]``: every workload, one table.

Starts docker-registry twice on 127.0.0.1 (token auth through the test token server, and no
auth), pushes the corpus (`benchmarks.corpus`), runs each workload for regwire's three drivers
and for the peers (python-dxf, oras, skopeo as scripted per image, a bare http.client loop with
a token fetched beforehand: the ceiling), and prints medians, ratios measured in the same run,
request counts from the registry's access log, and whether each target is met. ``--quick`` runs
every workload once on a tiny corpus (the test suite's smoke run).

``--compare TREE`` measures regwire's rows of workloads 1, 3, 8, 9 and 10 twice per run, with
the regwire of TREE (another checkout: ``git worktree add /tmp/before COMMIT``) and with this
checkout's, taking turns run after run, leaves the peers out, and ends with a table of both
medians, their ratio and each one's spread (`benchmarks.compare` says how).
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
from benchmarks.compare import BEFORE, Compare, check_loaded, child_env
from benchmarks.compare import label as side_label
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


COMPARED = frozenset({1, 3, 8, 9, 10})  # the workloads --compare knows how to split


def _count_start(corpus: Corpus) -> tuple[int, int]:
    """Where the registry's access log and its token server's count stand now."""
    server = corpus.registry.token_server
    return corpus.registry.log_size(), len(server.requests) if server else 0


def _count_since(corpus: Corpus, start: tuple[int, int]) -> int:
    """Requests the registry and its token server saw since `_count_start`."""
    time.sleep(0.05)  # let the registry flush its access log
    server = corpus.registry.token_server
    tokens = len(server.requests) - start[1] if server else 0
    return corpus.registry.requests_since(start[0]) + tokens


class Bench:
    def __init__(self, sizes: Sizes, only: set[int], compare: Compare | None = None) -> None:
        self.sizes, self.only, self.compare = sizes, only, compare
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

    def measure_timed_turns(
        self,
        workload: str,
        entries: list[tuple[str, Callable[[], tuple[float, Any]]]],
        corpus: Corpus | None = None,
        check: Callable[[Any], None] | None = None,
    ) -> list[Row]:
        """`measure_in_turns` for calls timed where they run (a `compare.Worker`): each entry's
        fn returns (seconds, result). With a corpus, each entry's first run also counts the
        requests the registry and its token server saw, so a change of behaviour shows."""
        samples: dict[str, list[float]] = {name: [] for name, _ in entries}
        requests: dict[str, int | None] = {name: None for name, _ in entries}
        for run in range(self.sizes.runs):
            for name, fn in entries:
                start = _count_start(corpus) if corpus is not None and run == 0 else None
                seconds, result = fn()
                samples[name].append(seconds)
                if check is not None:
                    check(result)
                if corpus is not None and start is not None:
                    requests[name] = _count_since(corpus, start)
        rows = []
        for name, _ in entries:
            row = Row(
                workload,
                name,
                statistics.median(samples[name]),
                requests=requests[name],
                samples=samples[name],
            )
            self.rows.append(row)
            rows.append(row)
            print(
                f"  {workload:<28} {name:<28} {row.median:8.3f} s  requests={row.requests}",
                flush=True,
            )
        return rows

    def pair_baselines(self, workload: str) -> None:
        """In a comparison, each row's ratio is taken against the same client's "before" row."""
        for row in self.rows:
            before = self.find(workload, side_label(row.client, BEFORE))
            if row.workload == workload and before is not None and before is not row:
                row.baseline = before.client

    def find(self, workload: str, client: str) -> Row | None:
        return next((r for r in self.rows if r.workload == workload and r.client == client), None)

    def target(self, text: str, met: bool | None, detail: str) -> None:
        self.targets.append((text, met, detail))


def workload_inspect(
    bench: Bench, corpus: Corpus, label: str, creds: clients.Creds, with_skopeo: bool
) -> None:
    if bench.compare is not None:
        compare_inspect(bench, bench.compare, corpus, label, creds)
        return
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
            partial(clients.regwire_async_inspect, driver, a, creds, refs, 16),
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


def compare_inspect(
    bench: Bench, compare: Compare, corpus: Corpus, label: str, creds: clients.Creds
) -> None:
    """1 with --compare: regwire's three clients in the two trees' workers, taking turns."""
    workers = compare.workers()
    for worker in workers.values():
        worker.call("benchmarks.clients:use_ca", corpus.registry.ca_file)
    refs, a = corpus.refs(), corpus.authority
    expected: list[str] = []

    def same(result: list[str]) -> None:
        if not expected:
            expected.extend(result)
        elif result != expected:
            raise AssertionError("a client answered different config digests")

    calls: list[tuple[str, str, list[Any]]] = [
        ("regwire (blocking)", "regwire_sync_inspect", [a, creds, refs]),
        ("regwire (trio, c=16)", "regwire_async_inspect", ["trio", a, creds, refs, 16]),
        ("regwire (asyncio, c=16)", "regwire_async_inspect", ["asyncio", a, creds, refs, 16]),
    ]
    entries: list[tuple[str, Callable[[], tuple[float, Any]]]] = [
        (side_label(client, side), partial(workers[side].call, f"benchmarks.clients:{fn}", *args))
        for client, fn, args in calls
        for side, _ in compare.sides
    ]
    bench.measure_timed_turns(label, entries, corpus, check=same)
    bench.pair_baselines(label)


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
            partial(clients.regwire_async_tags, driver, a, CREDS, repo),
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
        names: tuple[str, ...] = ("regwire-sync", "regwire-trio", "regwire-asyncio")
        if bench.compare is None:  # a comparison leaves the peers out
            names += ("python-dxf", "oras", "http.client+sha256")
        jobs = [[client, corpus.authority, USER, PASSWORD, digest, token] for client in names]
        job_rows(bench, label, "benchmarks.blobjob", jobs, mib, corpus.registry.ca_file)


def job_rows(
    bench: Bench, label: str, module: str, jobs: list[list[str]], mib: int, ca_file: str | None
) -> list[Row]:
    """Run ``python -m module args`` for each job's args, each run in a fresh process; a row
    per job (its client is ``args[0]``).

    The jobs take turns, run after run (A B C, A B C, ...), so that a slow minute on a shared
    machine lands on every client's samples rather than on one client's row. The job prints
    its wall time and peak RSS as JSON (`benchmarks.blobjob`, `pushjob`). With --compare,
    each job runs twice per run, with the before tree's regwire, then with ours.
    """
    runs: list[tuple[str, list[str], str | None]] = (
        [(args[0], args, None) for args in jobs]
        if bench.compare is None
        else [
            (side_label(args[0], side), args, tree)
            for args in jobs
            for side, tree in bench.compare.sides
        ]
    )
    samples: list[list[float]] = [[] for _ in runs]
    rss: list[list[float]] = [[] for _ in runs]
    for _ in range(bench.sizes.runs):
        for i, (name, args, tree) in enumerate(runs):
            env = child_env(tree) if tree else dict(os.environ)
            done = subprocess.run(
                [sys.executable, "-m", module, *args],
                env={**env, "BENCH_CA": ca_file or ""},
                capture_output=True,
                text=True,
            )
            if done.returncode:
                raise RuntimeError(f"{module} {name} failed: {done.stderr[-2000:]}")
            result = json.loads(done.stdout)
            if tree:
                check_loaded(result.get("regwire"), tree)
            samples[i].append(result["seconds"])
            rss[i].append(result["rss_mib"])
    rows = []
    for (name, _, _), times, peaks in zip(runs, samples, rss, strict=True):
        median = statistics.median(times)
        row = Row(
            label,
            name,
            median,
            baseline=None if bench.compare else "http.client+sha256",
            samples=times,
            extra=f"{mib / median:.0f} MiB/s, peak RSS {max(peaks):.0f} MiB",
        )
        bench.rows.append(row)
        rows.append(row)
        print(f"  {label:<28} {name:<28} {median:8.3f} s  {row.extra}", flush=True)
    if bench.compare is not None:
        bench.pair_baselines(label)
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
                    partial(clients.regwire_async_inspect, driver, a, CREDS, refs, concurrency),
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
            peers = ("python-dxf", "oras", "http.client+sha256") if bench.compare is None else ()
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
                if bench.compare is not None:
                    bench.measure_timed_turns(
                        label,
                        compare_copies(bench.compare, ca, src, dst, chosen, fresh),
                        check=check,
                    )
                    bench.pair_baselines(label)
                else:
                    entries = copies(ca, src, dst, chosen, fresh, latency)
                    bench.measure_in_turns(label, entries, check=check)
                    for row in bench.rows:
                        if row.workload == label:
                            row.baseline = "skopeo sync"
            finally:
                for proxy in proxies:
                    proxy.close()
    finally:
        destination.close()


def copies(
    ca: str | None,
    source: str,
    destination: str,
    refs: list[str],
    fresh: Callable[[], str],
    latency: bool,
) -> list[tuple[str, Callable[[], Any], int | None]]:
    """9: every client's copy of ``refs`` (each call into a fresh namespace of the
    destination); skopeo, slow, runs once where it would take long."""
    from benchmarks import copyjob

    entries: list[tuple[str, Callable[[], Any], int | None]] = [
        (
            "regwire (blocking)",
            lambda: copyjob.regwire_sync_copy(ca, source, destination, refs, fresh()),
            None,
        ),
        (
            "regwire (blocking, c=1)",
            lambda: copyjob.regwire_sync_copy(
                ca, source, destination, refs, fresh(), concurrency=1
            ),
            None,
        ),
    ]

    def async_copy(driver: str) -> list[str]:
        return copyjob.regwire_async_copy(driver, ca, source, destination, refs, fresh())

    for driver in ("trio", "asyncio"):
        entries.append((f"regwire ({driver}, c=16)", partial(async_copy, driver), None))
    entries.append(
        (
            "skopeo sync",
            lambda: copyjob.skopeo_sync(ca, source, destination, refs, fresh()),
            1 if latency else None,
        )
    )
    if not latency:
        entries.append(
            (
                "skopeo copy (per image)",
                lambda: copyjob.skopeo_copy_each(ca, source, destination, refs, fresh()),
                1,
            )
        )
    return entries


def compare_copies(
    compare: Compare,
    ca: str | None,
    source: str,
    destination: str,
    refs: list[str],
    fresh: Callable[[], str],
) -> list[tuple[str, Callable[[], tuple[float, Any]]]]:
    """9 with --compare: regwire's copies in the two trees' workers (each call into a fresh
    namespace of the destination), before and after side by side."""
    workers = compare.workers()
    calls: list[tuple[str, str, list[Any], list[Any]]] = [
        ("regwire (blocking)", "regwire_sync_copy", [], []),
        ("regwire (blocking, c=1)", "regwire_sync_copy", [], [1]),
        ("regwire (trio, c=16)", "regwire_async_copy", ["trio"], []),
        ("regwire (asyncio, c=16)", "regwire_async_copy", ["asyncio"], []),
    ]

    def entry(side: str, fn: str, head: list[Any], tail: list[Any]) -> tuple[float, Any]:
        args = [*head, ca, source, destination, refs, fresh(), *tail]
        return workers[side].call(f"benchmarks.copyjob:{fn}", *args)

    return [
        (side_label(client, side), partial(entry, side, fn, head, tail))
        for client, fn, head, tail in calls
        for side, _ in compare.sides
    ]


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
    # (row, client, tree, repository prefix): the clients take turns run after run; with
    # --compare, each regwire client runs with the before tree's code, then with ours.
    regwires = ("regwire-sync", "regwire-trio", "regwire-asyncio")
    jobs: list[tuple[str, str, str | None, str]] = (
        [(client, client, None, client) for client in (*regwires, "skopeo")]
        if bench.compare is None
        else [
            (side_label(client, side), client, tree, f"{client}-{side}")
            for client in regwires
            for side, tree in bench.compare.sides
        ]
    )
    samples: dict[str, list[float]] = {name: [] for name, _, _, _ in jobs}
    rss: dict[str, list[float]] = {name: [] for name, _, _, _ in jobs}
    try:
        for run in range(bench.sizes.runs):
            for name, client, tree, prefix in jobs:
                done = subprocess.run(
                    [sys.executable, "-m", "benchmarks.bigcopyjob", client,
                     f"{source.authority}/bench/blobs:big",
                     f"{destination.authority}/{prefix}/run{run}:big"],
                    capture_output=True, text=True, env=child_env(tree) if tree else None,
                )  # fmt: skip
                if done.returncode:
                    raise RuntimeError(f"{name}: {done.stderr[-2000:]}")
                result = json.loads(done.stdout)
                if tree:
                    check_loaded(result.get("regwire"), tree)
                if result["digest"] and result["digest"] != expected:
                    raise AssertionError(f"{name} wrote another digest")
                samples[name].append(result["seconds"])
                rss[name].append(result["rss_mib"])
        for name, _, _, _ in jobs:
            median = statistics.median(samples[name])
            row = Row(
                label,
                name,
                median,
                baseline=None if bench.compare else "skopeo",
                samples=samples[name],
                extra=f"{mib / median:.0f} MiB/s, peak RSS {max(rss[name]):.0f} MiB",
            )
            bench.rows.append(row)
            print(f"  {label:<28} {name:<28} {median:8.3f} s  {row.extra}", flush=True)
        if bench.compare is not None:
            bench.pair_baselines(label)
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
    scripted = t(w1, "skopeo inspect (per image)")
    if many and scripted:
        bench.target(
            "regwire inspect of every image in one process >= 10x skopeo scripted",
            scripted / many >= 10,
            f"{scripted / many:.1f}x",
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


def compare_table(bench: Bench) -> str:
    """Each client's before and after rows side by side: medians, after/before, and the spread
    (min-max of the samples) of each, so that a change can be told from the noise."""

    def spread(row: Row) -> str:
        low, high = min(row.samples), max(row.samples)
        return f"{row.median:.3f} s ({low:.3f}-{high:.3f})"

    lines = [
        "| workload | client | before: median (min-max) | after: median (min-max) "
        "| after/before | outside both spreads | requests before/after |",
        "|---|---|---|---|---|---|---|",
    ]
    by_number = sorted(bench.rows, key=lambda row: int(row.workload.split(".")[0]))
    for after in by_number:  # stable: within a workload, the order of the run
        before = bench.find(after.workload, side_label(after.client, BEFORE))
        if before is None or before is after or not before.samples or not after.samples:
            continue
        if len(before.samples) < 2 or len(after.samples) < 2:
            verdict = "one run: no spread"
        elif min(after.samples) > max(before.samples):
            verdict = "slower"
        elif max(after.samples) < min(before.samples):
            verdict = "faster"
        else:
            verdict = "no: within the noise"
        requests = (
            f"{before.requests}/{after.requests}"
            if before.requests is not None or after.requests is not None
            else ""
        )
        lines.append(
            f"| {after.workload} | {after.client} | {spread(before)} | {spread(after)} "
            f"| {after.median / before.median:.2f} | {verdict} | {requests} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny corpus, one run (smoke)")
    parser.add_argument("--runs", type=int, help="runs per row (default 5; 1 with --quick)")
    parser.add_argument(
        "--only", help="workloads to run (default: all; with --compare: 1,3,8,9,10)"
    )
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument(
        "--compare",
        metavar="TREE",
        help="measure regwire's rows twice, with TREE's regwire (another checkout) and ours, "
        "taking turns; workloads 1, 3, 8, 9, 10 only, without the peers",
    )
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    sizes.runs = args.runs or sizes.runs
    default = sorted(COMPARED) if args.compare else range(1, 13)
    only = {int(w) for w in args.only.split(",")} if args.only else set(default)
    compare = None
    if args.compare:
        if only - COMPARED:
            parser.error(
                f"--compare measures workloads 1, 3, 8, 9 and 10; leave out "
                f"{', '.join(map(str, sorted(only - COMPARED)))} or run them without --compare"
            )
        compare = Compare(args.compare)
    bench = Bench(sizes, only, compare)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"{sizes.images} images, {sizes.tags} tags, blobs {sizes.blobs_mib} MiB, {sizes.runs} runs",
        flush=True,
    )
    if compare is not None:
        print(f"comparing regwire {compare.describe()}", flush=True)
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
        if compare is not None:
            compare.close()
        for corpus in corpora:
            corpus.registry.close()
    judge(bench)
    print()
    print(table(bench))
    if compare is not None:
        print()
        print(compare_table(bench))
    if args.json:
        with open(args.json, "w") as file:
            json.dump([row.__dict__ for row in bench.rows], file, indent=1)
    return 0


sys.exit(main(sys.argv[1:]))
