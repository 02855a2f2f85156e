"""``python -m benchmarks.pushjob CLIENT AUTHORITY USER PASSWORD PATH``: one blob upload.

Runs in a fresh process so that its peak RSS is the client's own; prints JSON with the wall
time of the upload (imports excluded), the digest and the peak RSS in MiB. Clients: regwire's
three drivers pushing the file object (streamed through the core), python-dxf and oras-py
pushing the file as their APIs do (each hashes it first), and the ceiling, a bare
``http.client`` POST then a streamed PUT with the digest computed beforehand.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import ssl
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from benchmarks.compare import load_regwire

CA = os.environ.get("BENCH_CA") or None


def _regwire_kwargs(authority: str, user: str, password: str) -> dict[str, Any]:
    import regwire

    tls: dict[str, Any] = {"ca_file": CA} if CA else {"insecure_registries": [authority]}
    credentials = regwire.Credentials(user, password) if user else regwire.Credentials()
    return {**tls, "credentials": credentials}


def run(client: str, authority: str, user: str, password: str, path: str) -> str:
    # A repository of its own each run: oras-py skips a blob its repository has (HEAD), and
    # every client must send the bytes to be measured.
    unique = f"{client.replace('+', '-').replace('.', '-')}-{time.time_ns()}"
    ref = f"{authority}/bench/pushed-{unique}"
    if client == "regwire-sync":
        import regwire

        with (
            regwire.Client(**_regwire_kwargs(authority, user, password)) as c,
            open(path, "rb") as f,
        ):
            return c.push_blob(ref, f)
    if client in ("regwire-trio", "regwire-asyncio"):
        kwargs = _regwire_kwargs(authority, user, password)

        async def main() -> str:
            if client == "regwire-trio":
                from regwire.drivers.trio import Client as TrioClient

                async with TrioClient(**kwargs) as tc:
                    with open(path, "rb") as f:
                        return await tc.push_blob(ref, f)
            from regwire.drivers.asyncio import Client as AsyncioClient

            async with AsyncioClient(**kwargs) as ac:
                with open(path, "rb") as f:
                    return await ac.push_blob(ref, f)

        if client == "regwire-trio":
            import trio

            return trio.run(main)
        return asyncio.run(main())
    if client == "http.client+sha256":
        return _bare(authority, user, password, path)
    if client == "python-dxf":
        from dxf import DXF

        dxf = DXF(authority, f"bench/pushed-{unique}", insecure=not CA, tlsverify=CA or True)
        digest: str = dxf.push_blob(path, check_exists=False)  # hashes the file, then sends it
        return digest if digest.startswith("sha256:") else f"sha256:{digest}"
    if client == "oras":
        import oras.oci
        import oras.provider

        registry = oras.provider.Registry(
            hostname=authority, insecure=not CA, tls_verify=CA or True
        )
        layer = oras.oci.NewLayer(path)  # hashes the file
        container = registry.get_container(f"{ref}:latest")
        response = registry.upload_blob(path, container, layer)
        if response.status_code not in (200, 201, 202):
            raise RuntimeError(f"oras upload answered {response.status_code}")
        return str(layer["digest"])
    raise SystemExit(f"unknown client {client}")


def _bare(authority: str, user: str, password: str, path: str) -> str:
    """The ceiling: hash the file, POST, then PUT it in one streamed request."""
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            hasher.update(piece)
    digest = "sha256:" + hasher.hexdigest()
    host, _, port = authority.partition(":")
    token = sys.argv[7] if len(sys.argv) > 7 else ""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn: http.client.HTTPConnection
    if CA:
        conn = http.client.HTTPSConnection(
            host, int(port), context=ssl.create_default_context(cafile=CA)
        )
    else:
        conn = http.client.HTTPConnection(host, int(port))
    conn.request("POST", f"/v2/bench/pushed-bare-{time.time_ns()}/blobs/uploads/", headers=headers)
    response = conn.getresponse()
    response.read()
    location = urlsplit(response.headers["Location"])
    target = (
        f"{location.path}?{location.query}&digest={digest}"
        if location.query
        else f"{location.path}?digest={digest}"
    )
    with open(path, "rb") as f:
        conn.request(
            "PUT",
            target,
            body=f,
            headers={
                **headers,
                "Content-Length": str(os.path.getsize(path)),
                "Content-Type": "application/octet-stream",
            },
        )
        response = conn.getresponse()
        response.read()
    if response.status != 201:
        raise RuntimeError(f"PUT answered {response.status}")
    return digest


def main() -> None:
    client, authority, user, password, path = sys.argv[1:6]
    # --compare: regwire from the tree this job measures (a wrong one ends the job).
    where = load_regwire()
    import regwire.drivers.sync

    if client == "regwire-trio":
        import trio  # noqa: F401

        import regwire.drivers.trio
    elif client == "regwire-asyncio":
        import regwire.drivers.asyncio  # noqa: F401
    started = time.perf_counter()
    digest = run(client, authority, user, password, path)
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "digest": digest,
                "rss_mib": int(hwm.split()[1]) / 1024,
                "regwire": where,
            }
        )
    )


if __name__ == "__main__":
    main()
