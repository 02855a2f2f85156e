"""``python -m benchmarks.blobjob CLIENT AUTHORITY USER PASSWORD DIGEST``: one blob download.

Runs in a fresh process so that its peak RSS is the client's own; prints JSON with the wall
time of the download (imports excluded), the bytes received and the peak RSS in MiB.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import sys
import time
from typing import Any

from benchmarks.compare import load_regwire


class Null:
    """A file that forgets what it is given (the download is what we measure, not the disk)."""

    def write(self, data: bytes) -> int:
        return len(data)


CA = os.environ.get("BENCH_CA") or None


def run(client: str, authority: str, creds: tuple[str, str] | None, digest: str) -> int:
    ref = f"{authority}/bench/blobs@{digest}"
    tls: dict[str, Any] = {"ca_file": CA} if CA else {"insecure_registries": [authority]}
    if client == "regwire-sync":
        import regwire

        with regwire.Client(
            **tls, credentials=regwire.Credentials(*creds) if creds else regwire.Credentials()
        ) as c:
            return c.blob(ref, Null())  # type: ignore[arg-type]
    if client in ("regwire-trio", "regwire-asyncio"):
        import regwire

        kwargs: dict[str, Any] = {
            **tls,
            "credentials": regwire.Credentials(*creds) if creds else regwire.Credentials(),
        }

        async def main() -> int:
            if client == "regwire-trio":
                from regwire.drivers.trio import Client as TrioClient

                async with TrioClient(**kwargs) as tc:
                    return await tc.blob(ref, Null())  # type: ignore[arg-type]
            from regwire.drivers.asyncio import Client as AsyncioClient

            async with AsyncioClient(**kwargs) as ac:
                return await ac.blob(ref, Null())  # type: ignore[arg-type]

        if client == "regwire-trio":
            import trio

            return trio.run(main)
        return asyncio.run(main())
    if client == "python-dxf":
        from dxf import DXF

        def auth(dxf: Any, response: Any) -> None:
            dxf.authenticate(*(creds or ()), response=response)

        total = 0
        dxf = DXF(authority, "bench/blobs", auth, insecure=not CA, tlsverify=CA or True)
        for chunk in dxf.pull_blob(digest, chunk_size=1 << 20):
            total += len(chunk)  # dxf verifies the digest as it iterates
        return total
    if client == "oras":
        import oras.client

        oc = oras.client.OrasClient(hostname=authority, insecure=not CA, tls_verify=CA or True)
        if creds:
            oc.auth.set_basic_auth(*creds)
        oc.download_blob(f"{authority}/bench/blobs", digest, "/dev/null")
        return -1
    if client == "http.client+sha256":
        token = sys.argv[6] if len(sys.argv) > 6 else ""
        host, _, port = authority.partition(":")
        conn: http.client.HTTPConnection
        if CA:
            import ssl

            context = ssl.create_default_context(cafile=CA)
            conn = http.client.HTTPSConnection(host, int(port), context=context)
        else:
            conn = http.client.HTTPConnection(host, int(port))
        conn.request(
            "GET",
            f"/v2/bench/blobs/blobs/{digest}",
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        response = conn.getresponse()
        hasher, total = hashlib.sha256(), 0
        while chunk := response.read(1 << 20):
            hasher.update(chunk)
            total += len(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            raise RuntimeError("digest mismatch")
        return total
    raise SystemExit(f"unknown client {client}")


def main() -> None:
    client, authority, user, password, digest = sys.argv[1:6]
    creds = (user, password) if user else None
    # Imports are not the download: load what the client needs before the clock starts.
    # --compare: regwire from the tree this job measures (a wrong one ends the job).
    where = load_regwire()
    import regwire.drivers.sync

    if client == "regwire-trio":
        import trio  # noqa: F401

        import regwire.drivers.trio
    elif client == "regwire-asyncio":
        import regwire.drivers.asyncio  # noqa: F401
    elif client == "python-dxf":
        import dxf  # noqa: F401
    elif client == "oras":
        import oras.client  # noqa: F401
    started = time.perf_counter()
    size = run(client, authority, creds, digest)
    seconds = time.perf_counter() - started
    # VmHWM, not ru_maxrss: after fork+exec, ru_maxrss still counts the parent's pages.
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    rss = int(hwm.split()[1]) / 1024
    print(json.dumps({"seconds": seconds, "bytes": size, "rss_mib": rss, "regwire": where}))


if __name__ == "__main__":
    main()
