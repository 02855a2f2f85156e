"""``python -m benchmarks.bigcopyjob CLIENT SOURCE DESTINATION``: one copy of a large image.

Runs in a fresh process so that its peak RSS is the client's own (for skopeo: the skopeo
process's, from the children's rusage); prints JSON with the wall time of the copy (imports
excluded), the digest written (regwire) and the peak RSS in MiB. SOURCE and DESTINATION are
references (``HOST:PORT/REPO:TAG``), both registries plain http here.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.compare import load_regwire


def forget_blob_locations() -> None:
    """Remove skopeo's blob info cache, which remembers where it has put blobs before: with
    it, a later run mounts them from an earlier run's repository instead of copying them."""
    for root in (Path("/var/lib/containers/cache"), Path.home() / ".local/share/containers/cache"):
        (root / "blob-info-cache-v1.boltdb").unlink(missing_ok=True)
        (root / "blob-info-cache-v1.sqlite").unlink(missing_ok=True)


def run(client: str, source: str, destination: str) -> str:
    hosts = [source.split("/")[0], destination.split("/")[0]]
    if client == "regwire-sync":
        import regwire

        with regwire.Client(insecure_registries=hosts, credentials=None) as c:
            return c.copy(source, destination)
    if client in ("regwire-trio", "regwire-asyncio"):

        async def main() -> str:
            if client == "regwire-trio":
                from regwire.drivers.trio import Client as TrioClient

                async with TrioClient(insecure_registries=hosts, credentials=None) as tc:
                    return await tc.copy(source, destination)
            from regwire.drivers.asyncio import Client as AsyncioClient

            async with AsyncioClient(insecure_registries=hosts, credentials=None) as ac:
                return await ac.copy(source, destination)

        if client == "regwire-trio":
            import trio

            return trio.run(main)
        return asyncio.run(main())
    if client == "skopeo":
        forget_blob_locations()
        done = subprocess.run(
            ["skopeo", "copy", "--all", "--preserve-digests", "--quiet",
             "--src-tls-verify=false", "--dest-tls-verify=false",
             f"docker://{source}", f"docker://{destination}"],
            capture_output=True, timeout=1800,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"skopeo copy failed: {done.stderr.decode()[-1500:]}")
        return ""
    raise SystemExit(f"unknown client {client}")


def main() -> None:
    client, source, destination = sys.argv[1:4]
    # --compare: regwire from the tree this job measures (a wrong one ends the job).
    where = load_regwire()
    import regwire.drivers.sync

    if client == "regwire-trio":
        import trio  # noqa: F401

        import regwire.drivers.trio
    elif client == "regwire-asyncio":
        import regwire.drivers.asyncio  # noqa: F401
    started = time.perf_counter()
    digest = run(client, source, destination)
    seconds = time.perf_counter() - started
    if client == "skopeo":
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    else:
        with open("/proc/self/status") as status:
            hwm = next(line for line in status if line.startswith("VmHWM:"))
        rss = int(hwm.split()[1]) / 1024
    print(json.dumps({"seconds": seconds, "digest": digest, "rss_mib": rss, "regwire": where}))


if __name__ == "__main__":
    main()
