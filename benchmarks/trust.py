"""``python -m benchmarks.trust [--images N] [--rounds R] [--smoke] [--json FILE]``: verifying.

What ``verify`` costs (issue 27's benchmark): ``N`` small, distinct images (200 by default) on the
real ``docker-registry`` (plain http on 127.0.0.1, no auth, access log on), each in its own
repository and signed once, as cosign signs, with a key `regwire.keys.generate_key` made
(``Client.sign`` does the setup). Then, by digest and by tag, round after round with every row
taking its turn (A B C, A B C, ...: a slow moment of a shared machine lands on every row), the
median of ``R`` rounds (5 by default) of:

- ``verify``: the async clients (trio, asyncio) verifying the ``N`` images at once, at most
  ``WIDTH`` at a time (a trio nursery with a `CapacityLimiter`, `asyncio.gather` under a
  `Semaphore`), and the blocking client in a pool of ``WIDTH`` threads and one after another,
  each with ``key=`` (the public key loaded once, as a program verifying many images holds it);
- ``inspect``: the same clients' ``images()`` (``image()`` in a loop for the sequential row) of
  the same references, the baseline that says what verification adds;
- the floor, ``http.client (floor)``: one keep-alive connection per worker (``WIDTH`` threads,
  and one), fetching per image only what a verification needs (the ``HEAD`` of the tag for its
  digest in the by-tag rows, the ``sha256-<hex>.sig`` manifest, its payload blob) and checking
  the payload's digest, the signature (``cryptography`` directly) and the digest it signs. The
  registry has no auth, so there is no token to hold.

Each verify row of regwire runs next to the floor of its width, in turn first and second, and
its ratio to the floor is the median of those pairs' ratios: this machine is shared, and a
burst of load lands on both runs of a pair rather than on one row's round. An untimed warm-up
round comes first (imports, first uses) and counts the requests. Each row reports images per
second (median and best round); for ``verify``, that paired ratio to the floor (target: the
async clients at least 0.8x; the ratio of the two best rounds beside it) and the ratio to the
same client's ``inspect``; the API requests per image, from the registry's access log, by kind
and apart from the ``/v2/`` probe a new client makes once (target: nothing beyond resolving a
tag, the ``.sig`` manifest and its payload: 2 by digest, 3 by tag); the CPU this process spent
per image (``time.process_time`` over the run: every thread of the client); and the
registry's CPU per image (its process's user and system time from ``/proc``): on a machine of
two cores the two share, what a row's requests cost the registry is a good part of its rate.
Then the CPU of one signature check: ``time.process_time`` over many calls of
`regwire.keys.VerifyingKey.verifies` on a real payload and its signature (target under 1 ms),
beside the bare ``cryptography`` call. ``--smoke`` (5 images, one round) is the test suite's
run: every row, in seconds; no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from regwire.drivers.operations import INSPECT_CONCURRENCY
from regwire.sansio.manifests import ACCEPT
from regwire.sansio.signatures import PublicKey
from tests.harness.distribution import RealRegistry

WIDTH = INSPECT_CONCURRENCY  # the concurrent rows' width: images()' default, 16
TARGET_RATIO = 0.8  # the async clients' rate against the floor's
TARGET_CHECK_US = 1000.0  # one signature check's CPU
PASSPHRASE = b"benchmark"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
WAYS = ("by digest", "by tag")


@dataclass(frozen=True)
class Corpus:
    """The signed images: each one's repository, tag and manifest digest, and the key."""

    registry: RealRegistry
    repositories: tuple[str, ...]
    digests: tuple[str, ...]
    public_pem: bytes

    @property
    def authority(self) -> str:
        return self.registry.authority

    def refs(self, way: str) -> list[str]:
        """The images' references, by digest or by tag."""
        if way == "by digest":
            return [
                f"{self.authority}/{repo}@{digest}"
                for repo, digest in zip(self.repositories, self.digests, strict=True)
            ]
        return [f"{self.authority}/{repo}:latest" for repo in self.repositories]


def _image(index: int) -> tuple[bytes, bytes]:
    """A small image of its own: its config and its one uncompressed layer (a few hundred bytes
    each; the layer is never unpacked here, so its bytes need not be a tar)."""
    layer = f"image {index}\n".encode() * 32
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [f"INDEX={index}"], "Cmd": ["/bin/app", f"--id={index}"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    return config, layer


def build(root: Path, images: int) -> Corpus:
    """Start docker-registry under ``root``, push ``images`` images and sign each one."""
    import regwire
    from regwire.keys import generate_key, load_private_key, load_public_key

    registry = RealRegistry(root / "server", "none", access_log=True, tls=False)
    try:
        private_pem, public_pem = generate_key(PASSPHRASE)
        signer = load_private_key(private_pem, PASSPHRASE)
        load_public_key(public_pem)  # the key we verify with reads back
        repositories = tuple(f"bench/signed{i:03}" for i in range(images))

        def push(client: regwire.Client, index: int) -> str:
            ref = f"{registry.authority}/{repositories[index]}:latest"
            config, layer = _image(index)
            descriptors = [
                {
                    "mediaType": media_type,
                    "digest": client.push_blob(ref, data),
                    "size": len(data),
                }
                for media_type, data in (
                    ("application/vnd.oci.image.config.v1+json", config),
                    ("application/vnd.oci.image.layer.v1.tar", layer),
                )
            ]
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptors[0],
                "layers": descriptors[1:],
            }
            digest = client.push_manifest(ref, json.dumps(manifest).encode(), OCI_MANIFEST)
            signed = client.sign(ref, signer)
            if signed != digest:
                raise AssertionError(f"sign signed {signed}, the manifest pushed is {digest}")
            return digest

        with (
            regwire.Client(**_kwargs(registry.authority)) as client,
            ThreadPoolExecutor(8) as pool,
        ):
            digests = tuple(pool.map(lambda i: push(client, i), range(images)))
        return Corpus(registry, repositories, digests, public_pem)
    except BaseException:
        registry.close()
        raise


# -- regwire's rows ----------------------------------------------------------------------------


def _kwargs(authority: str) -> dict[str, Any]:
    import regwire

    return {"insecure_registries": [authority], "credentials": regwire.Credentials()}


def _digests_verified(results: Sequence[Any]) -> list[str]:
    """The digest each image's verification accepted (each must have accepted one)."""
    found = []
    for result in results:
        if not result:
            raise AssertionError("verify returned no signature")
        found.append(str(result[0].digest))
    return found


def _digests_inspected(results: Sequence[Any]) -> list[str]:
    found = []
    for result in results:
        if isinstance(result, Exception):
            raise result
        found.append(str(result.digest))
    return found


def async_verify(
    driver: str, authority: str, refs: list[str], key: PublicKey, width: int
) -> list[str]:
    """``verify`` of every reference through the trio or asyncio client, ``width`` at a time."""
    kwargs = {**_kwargs(authority), "max_connections": width}
    results: list[Any] = [None] * len(refs)
    if driver == "trio":
        import trio

        from regwire.drivers.trio import Client as TrioClient

        async def trio_main() -> None:
            limiter = trio.CapacityLimiter(width)
            async with TrioClient(**kwargs) as client:

                async def one(index: int, ref: str) -> None:
                    async with limiter:
                        results[index] = await client.verify(ref, key=key)

                async with trio.open_nursery() as nursery:
                    for index, ref in enumerate(refs):
                        nursery.start_soon(one, index, ref)

        trio.run(trio_main)
    else:
        from regwire.drivers.asyncio import Client as AsyncioClient

        async def asyncio_main() -> None:
            gate = asyncio.Semaphore(width)
            async with AsyncioClient(**kwargs) as client:

                async def one(index: int, ref: str) -> None:
                    async with gate:
                        results[index] = await client.verify(ref, key=key)

                await asyncio.gather(*(one(index, ref) for index, ref in enumerate(refs)))

        asyncio.run(asyncio_main())
    return _digests_verified(results)


def async_inspect(driver: str, authority: str, refs: list[str], width: int) -> list[str]:
    """``images()`` of every reference through the trio or asyncio client."""
    kwargs = {**_kwargs(authority), "max_connections": width}
    if driver == "trio":
        import trio

        from regwire.drivers.trio import Client as TrioClient

        async def trio_main() -> list[Any]:
            async with TrioClient(**kwargs) as client:
                return list(await client.images(refs, concurrency=width))

        return _digests_inspected(trio.run(trio_main))

    from regwire.drivers.asyncio import Client as AsyncioClient

    async def asyncio_main() -> list[Any]:
        async with AsyncioClient(**kwargs) as client:
            return list(await client.images(refs, concurrency=width))

    return _digests_inspected(asyncio.run(asyncio_main()))


def blocking_verify(authority: str, refs: list[str], key: PublicKey, width: int) -> list[str]:
    """``verify`` of every reference through the blocking client: ``width`` threads sharing
    it, or one after another when ``width`` is 1."""
    import regwire

    with regwire.Client(**_kwargs(authority)) as client:
        if width == 1:
            return _digests_verified([client.verify(ref, key=key) for ref in refs])
        with ThreadPoolExecutor(width) as pool:
            return _digests_verified(list(pool.map(lambda r: client.verify(r, key=key), refs)))


def blocking_inspect(authority: str, refs: list[str], width: int) -> list[str]:
    """``images()`` through the blocking client (its threads), or ``image()`` in a loop."""
    import regwire

    with regwire.Client(**_kwargs(authority)) as client:
        if width == 1:
            return _digests_inspected([client.image(ref) for ref in refs])
        return _digests_inspected(client.images(refs, concurrency=width))


# -- the floor: http.client and cryptography, nothing else -------------------------------------


class _Connection:
    """One keep-alive connection to the registry, for one worker."""

    def __init__(self, authority: str) -> None:
        host, _, port = authority.rpartition(":")
        self.http = http.client.HTTPConnection(host, int(port))

    def fetch(
        self, method: str, path: str, accept: str = ""
    ) -> tuple[bytes, http.client.HTTPResponse]:
        self.http.request(method, path, headers={"Accept": accept} if accept else {})
        response = self.http.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path} answered {response.status}")
        return body, response


def floor_verify(authority: str, refs: list[str], public_pem: bytes, width: int) -> list[str]:
    """Verify every reference with ``width`` workers, each on its own connection: the tag's
    digest (HEAD) when a tag is named, the ``.sig`` manifest, each signing payload (its digest
    checked), the signature checked with ``cryptography`` and the digest the payload signs."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    algorithm = ec.ECDSA(hashes.SHA256())
    local = threading.local()
    opened: list[_Connection] = []

    def verify(ref: str) -> str:
        connection: _Connection | None = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = _Connection(authority)
            opened.append(connection)
        repository, at, digest = ref.partition("/")[2].partition("@")
        if not at:
            repository, _, tag = repository.rpartition(":")
            _, response = connection.fetch("HEAD", f"/v2/{repository}/manifests/{tag}", ACCEPT)
            digest = response.getheader("Docker-Content-Digest") or ""
        sig_tag = digest.replace(":", "-") + ".sig"
        raw, _ = connection.fetch("GET", f"/v2/{repository}/manifests/{sig_tag}", OCI_MANIFEST)
        for layer in json.loads(raw)["layers"]:
            if layer["mediaType"] != SIMPLE_SIGNING:
                continue
            payload, _ = connection.fetch("GET", f"/v2/{repository}/blobs/{layer['digest']}")
            if "sha256:" + hashlib.sha256(payload).hexdigest() != layer["digest"]:
                continue
            signature = base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION])
            try:
                key.verify(signature, payload, algorithm)
            except InvalidSignature:
                continue
            signed = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
            if signed == digest:
                return str(signed)
        raise AssertionError(f"no signature of {ref} verified")

    try:
        if width == 1:
            return [verify(ref) for ref in refs]
        with ThreadPoolExecutor(width) as pool:
            return list(pool.map(verify, refs))
    finally:
        for connection in opened:
            connection.http.close()


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str  # "verify, by digest", "inspect, by tag", ...
    client: str
    run: Callable[[], list[str]] = field(repr=False)
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds per round
    server_cpu: list[float] = field(default_factory=list)  # the registry's, per round
    requests: Counter[str] = field(default_factory=Counter)  # the warm-up round's, by kind
    floor: Row | None = field(default=None, repr=False)  # the floor a verify row is paired with
    paired: list[float] = field(default_factory=list)  # rate / the floor's, run next to it

    def rate(self, images: int) -> float:
        """Images per second in the median round."""
        return images / statistics.median(self.seconds)

    def best(self, images: int) -> float:
        """Images per second in the fastest round."""
        return images / min(self.seconds)


def _kind(line: str) -> str | None:
    """What an access-log line asked: ``GET /v2/`` (the probe), ``HEAD manifest by tag``, ``GET
    .sig manifest``, ``GET blob``... None for lines that are not API requests."""
    try:
        method, path = line.split('"', 2)[1].split()[:2]
    except (IndexError, ValueError):
        return None
    if not path.startswith("/v2/"):
        return None
    if path == "/v2/":
        return f"{method} /v2/"
    if "/manifests/" in path:
        reference = path.rsplit("/", 1)[1]
        if reference.endswith(".sig"):
            return f"{method} .sig manifest"
        return f"{method} manifest by {'digest' if ':' in reference else 'tag'}"
    if "/blobs/" in path:
        return f"{method} blob"
    return f"{method} other"


def requests_since(registry: RealRegistry, offset: int) -> Counter[str]:
    """The API requests the registry's access log shows after ``offset``, by kind."""
    time.sleep(0.05)  # let the registry flush its access log
    with open(registry.directory / "registry.log", "rb") as log:
        log.seek(offset)
        kinds = (_kind(line.decode(errors="replace")) for line in log)
        return Counter(kind for kind in kinds if kind is not None)


def rows_for(corpus: Corpus, key: PublicKey) -> list[Row]:
    """Every row: verify (regwire's clients, each paired with the floor of its width, and the
    floors) and inspect, by digest and by tag."""
    authority, pem = corpus.authority, corpus.public_pem
    rows = []
    for way in WAYS:
        refs = corpus.refs(way)
        verify, inspect = f"verify, {way}", f"inspect, {way}"
        wide, alone = (
            Row(verify, name, partial(floor_verify, authority, refs, pem, width))
            for width, name in (
                (WIDTH, f"http.client (floor, {WIDTH} connections)"),
                (1, "http.client (floor, sequential)"),
            )
        )
        for driver in ("trio", "asyncio"):
            name = f"regwire ({driver}, c={WIDTH})"
            run = partial(async_verify, driver, authority, refs, key, WIDTH)
            rows.append(Row(verify, name, run, floor=wide))
            rows.append(Row(inspect, name, partial(async_inspect, driver, authority, refs, WIDTH)))
        for width, name, floor in (
            (WIDTH, f"regwire (blocking, {WIDTH} threads)", wide),
            (1, "regwire (blocking, sequential)", alone),
        ):
            run = partial(blocking_verify, authority, refs, key, width)
            rows.append(Row(verify, name, run, floor=floor))
            rows.append(Row(inspect, name, partial(blocking_inspect, authority, refs, width)))
        rows += [wide, alone]
    return rows


def measure(corpus: Corpus, rows: list[Row], rounds: int) -> None:
    """An untimed warm-up round that counts each row's requests, then ``rounds`` rounds.

    In a round every row runs once, and each verify row of regwire runs next to its floor
    (the floors run once per pairing), in turn first and second, so that the ratio taken from
    such a pair compares two runs a moment apart: on a shared machine, the load of the moment
    lands on both. Each round starts one unit further on, so that no row always follows the
    same one."""
    expected = list(corpus.digests)

    def timed(row: Row) -> float:
        server, cpu, started = server_cpu(corpus), time.process_time(), time.perf_counter()
        digests = row.run()
        seconds = time.perf_counter() - started
        row.seconds.append(seconds)
        row.cpu.append(time.process_time() - cpu)
        row.server_cpu.append(server_cpu(corpus) - server)
        if digests != expected:
            raise AssertionError(f"{row.workload}, {row.client}: wrong digests")
        return seconds

    for row in rows:  # the warm-up round, untimed: imports, first uses; requests counted
        offset = corpus.registry.log_size()
        if row.run() != expected:
            raise AssertionError(f"{row.workload}, {row.client}: wrong digests")
        row.requests = requests_since(corpus.registry, offset)
    floors = {id(row.floor) for row in rows if row.floor is not None}
    units = [row for row in rows if id(row) not in floors]
    for round_ in range(rounds):
        for i in range(len(units)):
            row = units[(round_ + i) % len(units)]
            if row.floor is None:
                timed(row)
            elif (round_ + i) % 2:
                floor_seconds = timed(row.floor)
                row.paired.append(floor_seconds / timed(row))
            else:
                seconds = timed(row)
                row.paired.append(timed(row.floor) / seconds)
        print(f"  round {round_ + 1}/{rounds} done", file=sys.stderr, flush=True)


def server_cpu(corpus: Corpus) -> float:
    """The CPU seconds the registry's process has used (user and system, from ``/proc``;
    0 where there is no ``/proc``, and the column then says nothing)."""
    try:
        with open(f"/proc/{corpus.registry.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_cpu(corpus: Corpus, checks: int) -> dict[str, float]:
    """CPU microseconds of one signature check: regwire's `VerifyingKey.verifies` on a payload
    and signature read from the registry, and the bare ``cryptography`` call."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from regwire.keys import VerifyingKey, load_public_key

    connection = _Connection(corpus.authority)
    try:
        repository, digest = corpus.repositories[0], corpus.digests[0]
        sig_tag = digest.replace(":", "-") + ".sig"
        raw, _ = connection.fetch("GET", f"/v2/{repository}/manifests/{sig_tag}", OCI_MANIFEST)
        layer = json.loads(raw)["layers"][0]
        payload, _ = connection.fetch("GET", f"/v2/{repository}/blobs/{layer['digest']}")
    finally:
        connection.http.close()
    signature = base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION])
    key = load_public_key(corpus.public_pem)
    if not isinstance(key, VerifyingKey) or not key.verifies(payload, signature):
        raise AssertionError("the stored signature does not verify")
    bare = key.key
    assert isinstance(bare, ec.EllipticCurvePublicKey)
    algorithm = ec.ECDSA(hashes.SHA256())

    def per_check(call: Callable[[], object]) -> float:
        samples = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(checks):
                call()
            samples.append((time.process_time() - started) / checks * 1e6)
        return statistics.median(samples)

    return {
        "regwire": per_check(lambda: key.verifies(payload, signature)),
        "cryptography": per_check(lambda: bare.verify(signature, payload, algorithm)),
    }


# -- reporting ---------------------------------------------------------------------------------


def _per_image(counts: Counter[str], images: int) -> tuple[float, str]:
    """API requests per image apart from the probe, and what they were."""
    probes = sum(n for kind, n in counts.items() if kind.endswith(" /v2/"))
    per = (sum(counts.values()) - probes) / images
    what = ", ".join(
        f"{n / images:.2f} {kind}"
        for kind, n in sorted(counts.items())
        if not kind.endswith(" /v2/")
    )
    return per, f"{what}; {probes} probe{'s' if probes != 1 else ''}"


ALLOWED = {"verify, by digest": 2, "verify, by tag": 3}


def report(rows: list[Row], images: int, cpu: dict[str, float]) -> tuple[str, list[str]]:
    """The Markdown table, and the targets' verdicts."""
    by = {(row.workload, row.client): row for row in rows}
    lines = [
        "| workload | client | images/s: median (best) | vs floor: paired (best) | vs inspect "
        "| requests/image | CPU/image | registry CPU/image | requests (warm-up round) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for row in rows:
        rate, best = row.rate(images), row.best(images)
        versus_floor = versus_inspect = ""
        if row.floor is not None:
            way = row.workload.split(", ")[1]
            ratio = statistics.median(row.paired)
            best_ratio = best / row.floor.best(images)
            inspect = by[(f"inspect, {way}", row.client)].rate(images)
            versus_floor = f"{ratio:.2f}x ({best_ratio:.2f}x)"
            versus_inspect = f"{rate / inspect:.2f}x"
            per, _ = _per_image(row.requests, images)
            if "trio" in row.client or "asyncio" in row.client:
                met = ratio >= TARGET_RATIO
                verdicts.append(
                    f"{row.workload}, {row.client}: {ratio:.3f}x the floor's rate (median of "
                    f"{len(row.paired)} pairs), best round {best_ratio:.3f}x the floor's best "
                    f"(target >= {TARGET_RATIO}x): "
                    f"{'met' if met else 'NOT MET'}"
                )
            verdicts.append(
                f"{row.workload}, {row.client}: {per:.2f} requests per image (target <= "
                f"{ALLOWED[row.workload]}): {'met' if per <= ALLOWED[row.workload] else 'NOT MET'}"
            )
        per, what = _per_image(row.requests, images)
        lines.append(
            f"| {row.workload} | {row.client} | {rate:.0f} ({best:.0f}) | {versus_floor} | "
            f"{versus_inspect} | "
            f"{per:.2f} | {statistics.median(row.cpu) / images * 1000:.2f} ms | "
            f"{statistics.median(row.server_cpu) / images * 1000:.1f} ms | {what} |"
        )
    met = cpu["regwire"] < TARGET_CHECK_US
    verdicts.append(
        f"one signature check (ecdsa-p256): regwire {cpu['regwire']:.0f} us CPU, cryptography "
        f"alone {cpu['cryptography']:.0f} us (target < 1 ms): {'met' if met else 'NOT MET'}"
    )
    return "\n".join(lines), verdicts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trust", description=__doc__)
    parser.add_argument("--images", type=int, default=200, help="signed images (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per row (default 5)")
    parser.add_argument("--checks", type=int, default=2000, help="signature checks timed")
    parser.add_argument("--smoke", action="store_true", help="5 images, one round (a test's run)")
    parser.add_argument("--json", metavar="FILE", help="also write the samples here")
    args = parser.parse_args(argv)
    images, rounds, checks = (5, 1, 20) if args.smoke else (args.images, args.rounds, args.checks)
    if images < 1 or rounds < 1 or checks < 1:
        parser.error("--images, --rounds and --checks must be at least 1")
    from regwire.keys import load_public_key

    root = Path(tempfile.mkdtemp(prefix="bench-trust-"))
    try:
        started = time.perf_counter()
        corpus = build(root, images)
        print(
            f"docker-registry on http://{corpus.authority}: {images} images signed in "
            f"{time.perf_counter() - started:.1f} s; {rounds} rounds; {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            flush=True,
        )
        try:
            rows = rows_for(corpus, load_public_key(corpus.public_pem))
            measure(corpus, rows, rounds)
            cpu = check_cpu(corpus, checks)
        finally:
            corpus.registry.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table, verdicts = report(rows, images, cpu)
    print(table)
    print()
    for verdict in verdicts:
        print(verdict)
    if args.json:
        with open(args.json, "w") as file:
            samples = [
                {
                    "workload": row.workload,
                    "client": row.client,
                    "seconds": row.seconds,
                    "cpu": row.cpu,
                    "registry_cpu": row.server_cpu,
                    "requests": dict(row.requests),
                    "paired_with_floor": row.paired,
                }
                for row in rows
            ]
            json.dump({"images": images, "rows": samples, "check_us": cpu}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
