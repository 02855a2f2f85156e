"""``python -m benchmarks.firstcall [--runs N] [--tags N] [--smoke] [--json FILE]``: a first call.

What a user's script pays for its first call (issue 25, item 14): a fresh
``regwire.Client(insecure_registries=[host])`` and its first ``tags(ref)`` against a plain-http
registry on loopback holding ``--tags`` tags (300 by default), beside python-dxf's
``DXF(host, repo, insecure=True).list_aliases()`` and a bare ``http.client`` GET of the tag list
(the floor: the one request and its JSON, nothing else).

Each measurement is a child process of its own, as a script is: its imports done first and not
timed (``import regwire`` is workload 6's figure), then the client made and the call made under
``time.perf_counter``. Whatever the call does beyond its request is in the figure: reading
credential files, building TLS contexts, the https attempt an insecure registry gets first,
imports done lazily inside the call. Bytecode is compiled first (as a pip install leaves it;
this tree may run with ``PYTHONDONTWRITEBYTECODE``). The clients take turns, run after run, and
each run starts with the next client (A B C, B C A, ...), so that a slow moment of a shared
machine and any order effect land on every client's samples. We report best and median.

The registry is the real ``docker-registry`` when it is installed (populated as
`benchmarks.corpus` does: blobs through the API, then one manifest tagged N times through
regwire's own push), else the model registry served on loopback (`regwire.testing.serve_model`).
Children run with the parent's environment: ``PYTHONPATH=TREE`` measures another checkout (a
patched copy) with this same benchmark. ``--smoke`` is a quick run that a test can call (30
tags, one run per client); no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = "bench/firstcall"

# What each child runs: argv is (authority, repository). Everything above the first
# perf_counter is imports; everything between the two is the call a user's script makes.
CHILDREN: dict[str, str] = {
    # As a script meets it: `regwire.Client` is imported lazily (the blocking driver: ssl, h11,
    # sockets), so its import is part of the first call.
    "regwire": """\
import sys, time
imports = time.perf_counter()
import regwire
authority, repository = sys.argv[1:3]
started = time.perf_counter()
client = regwire.Client(insecure_registries=[authority])
count = len(client.tags(f"{authority}/{repository}"))
elapsed = time.perf_counter() - started
client.close()
print(elapsed * 1000, (started - imports) * 1000, count)
""",
    # The driver imported beforehand too (``from regwire import Client``): the call alone.
    "regwire (Client imported first)": """\
import sys, time
imports = time.perf_counter()
from regwire import Client
authority, repository = sys.argv[1:3]
started = time.perf_counter()
client = Client(insecure_registries=[authority])
count = len(client.tags(f"{authority}/{repository}"))
elapsed = time.perf_counter() - started
client.close()
print(elapsed * 1000, (started - imports) * 1000, count)
""",
    "python-dxf": """\
import sys, time
imports = time.perf_counter()
from dxf import DXF
authority, repository = sys.argv[1:3]
started = time.perf_counter()
count = len(DXF(authority, repository, insecure=True).list_aliases())
elapsed = time.perf_counter() - started
print(elapsed * 1000, (started - imports) * 1000, count)
""",
    "http.client (floor)": """\
import sys, time
imports = time.perf_counter()
import json, http.client
authority, repository = sys.argv[1:3]
host, _, port = authority.rpartition(":")
started = time.perf_counter()
connection = http.client.HTTPConnection(host, int(port))
connection.request("GET", f"/v2/{repository}/tags/list")
count = len(json.loads(connection.getresponse().read())["tags"])
elapsed = time.perf_counter() - started
connection.close()
print(elapsed * 1000, (started - imports) * 1000, count)
""",
}


def available_clients() -> list[str]:
    """The clients this machine can run: python-dxf only if it is installed."""
    import importlib.util

    names = ["regwire", "regwire (Client imported first)"]
    if importlib.util.find_spec("dxf") is not None:
        names.append("python-dxf")
    names.append("http.client (floor)")
    return names


@dataclass
class Served:
    """A plain-http registry on loopback holding ``tags`` tags of ``repository``."""

    authority: str
    repository: str
    tags: int
    kind: str  # "docker-registry" or "model"
    close: Callable[[], None]
    requests_since: Callable[[int], int] | None = None  # the access log's GETs after an offset
    log_size: Callable[[], int] | None = None


def _docker_registry(tags: int, root: Path) -> Served:
    """docker-registry, no auth, plain http; one small image tagged ``tags`` times."""
    from tests.harness.distribution import RealRegistry

    registry = RealRegistry(root / "server", "none", access_log=True, tls=False)
    try:
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}}).encode()
        layer = b"first call\n" * 64
        digests = []
        for name, data in (("config", config), ("layer", layer)):
            path = root / name
            path.write_bytes(data)
            digests.append(registry.put_blob(REPOSITORY, path))
            path.unlink()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digests[0],
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digests[1],
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        media_type = "application/vnd.oci.image.manifest.v1+json"
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda t: registry.put_manifest(REPOSITORY, f"t{t:04}", manifest, media_type),
                    range(tags),
                )
            )
    except BaseException:
        registry.close()
        raise
    return Served(
        registry.authority,
        REPOSITORY,
        tags,
        "docker-registry",
        registry.close,
        registry.requests_since,
        registry.log_size,
    )


def _model(tags: int) -> Served:
    """The model registry on loopback (no docker-registry on this machine)."""
    from regwire.testing.model import ModelRegistry
    from regwire.testing.server import serve_model

    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.push_image(REPOSITORY, "t0000")
        digest = model.repositories[REPOSITORY].tags["t0000"]
        media_type, raw = model.repositories[REPOSITORY].manifests[digest]
        for t in range(1, tags):
            model.put_manifest(REPOSITORY, raw, media_type, tag=f"t{t:04}")
        return model

    server, model = serve_model(make)

    def requests_since(offset: int) -> int:
        return sum(1 for r in model.requests[offset:] if "/v2/" in r.url)

    return Served(
        server.authority,
        REPOSITORY,
        tags,
        "model",
        server.close,
        requests_since,
        lambda: len(model.requests),
    )


def serve(tags: int, root: Path, kind: str = "auto") -> Served:
    """A registry with ``tags`` tags: docker-registry if it is installed (or asked), else the
    model."""
    if kind == "docker-registry" or (kind == "auto" and shutil.which("docker-registry")):
        return _docker_registry(tags, root)
    return _model(tags)


def compile_bytecode() -> None:
    """Compile regwire (the one the children import) as a pip install would have."""
    found = subprocess.run(
        [sys.executable, "-c", "import regwire, os; print(os.path.dirname(regwire.__file__))"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", found], check=True)


def child(client: str, served: Served) -> tuple[float, float]:
    """One measurement: a fresh process runs ``client``'s first call; its milliseconds, and
    those its imports took before it."""
    done = subprocess.run(
        [sys.executable, "-c", CHILDREN[client], served.authority, served.repository],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"{client}: exit status {done.returncode}: {done.stderr[-2000:]}")
    ms, imports, count = done.stdout.split()
    if int(count) != served.tags:
        raise AssertionError(f"{client} listed {count} tags, expected {served.tags}")
    return float(ms), float(imports)


@dataclass
class Row:
    client: str
    samples: list[float] = field(default_factory=list)  # the call, ms
    imports: list[float] = field(default_factory=list)  # the imports before it, ms
    requests: int | None = None  # API requests the registry saw for the first sample

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def measure(served: Served, clients: Sequence[str], runs: int) -> list[Row]:
    """``runs`` children per client, the clients taking turns (each run starting with the
    next one)."""
    rows = [Row(name) for name in clients]
    for run in range(runs):
        for i in range(len(rows)):
            row = rows[(run + i) % len(rows)]
            offset = served.log_size() if served.log_size and row.requests is None else None
            call, imports = child(row.client, served)
            row.samples.append(call)
            row.imports.append(imports)
            if offset is not None and served.requests_since is not None:
                if served.kind == "docker-registry":
                    import time

                    time.sleep(0.05)  # let the registry flush its access log
                row.requests = served.requests_since(offset)
    return rows


def table(rows: list[Row], baseline: str = "python-dxf") -> str:
    base = next((r for r in rows if r.client == baseline), None)
    lines = [
        "| client | best | median | best vs " + baseline + " | median vs " + baseline
        + " | imports (median) | imports + call (median) | requests | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in rows:
        ratios = ("", "")
        if base is not None:
            ratios = (f"{row.best / base.best:.2f}x", f"{row.median / base.median:.2f}x")
        requests = "" if row.requests is None else str(row.requests)
        lines.append(
            f"| {row.client} | {row.best:.2f} ms | {row.median:.2f} ms | {ratios[0]} | "
            f"{ratios[1]} | {statistics.median(row.imports):.1f} ms | "
            f"{statistics.median([a + b for a, b in zip(row.imports, row.samples, strict=True)]):.1f} ms | "
            f"{requests} | {len(row.samples)} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.firstcall")
    parser.add_argument("--runs", type=int, default=11, help="children per client")
    parser.add_argument("--tags", type=int, default=300, help="tags in the repository")
    parser.add_argument("--smoke", action="store_true", help="30 tags, one run (a test's run)")
    parser.add_argument("--registry", choices=("auto", "docker-registry", "model"), default="auto")
    parser.add_argument("--clients", help="comma-separated, default every available one")
    parser.add_argument("--json", help="also write the samples here")
    args = parser.parse_args(argv)
    runs, tags = (1, 30) if args.smoke else (args.runs, args.tags)
    clients = args.clients.split(",") if args.clients else available_clients()
    unknown = [c for c in clients if c not in CHILDREN]
    if unknown:
        parser.error(f"unknown clients {unknown}; known: {sorted(CHILDREN)}")
    compile_bytecode()
    root = Path(tempfile.mkdtemp(prefix="bench-firstcall-"))
    served = serve(tags, root, args.registry)
    try:
        print(
            f"{served.kind} on http://{served.authority}, {tags} tags, {runs} runs per client; "
            f"PYTHONPATH={os.environ.get('PYTHONPATH', '')!r}",
            flush=True,
        )
        rows = measure(served, clients, runs)
    finally:
        served.close()
        shutil.rmtree(root, ignore_errors=True)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as file:
            json.dump([{**row.__dict__} for row in rows], file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
