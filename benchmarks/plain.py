"""Workload 7: a registry on plain http (``insecure_registries``), beside python-dxf and requests.

Plain http is where a client's fixed costs show: no TLS to amortise them. We time, in-process,
listing a repository's tags and downloading a 64 MiB blob with its digest checked, each from a
new client; and as processes, the command a script would run (bytecode compiled, as a pip
install leaves it). Peers: python-dxf, and requests with a hand-written loop.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import regwire


class Null:
    def write(self, data: bytes) -> int:
        return len(data)


def regwire_tags(authority: str, repo: str) -> int:
    with regwire.Client(insecure_registries=[authority], credentials=regwire.Credentials()) as c:
        return len(c.tags(f"{authority}/{repo}"))


def dxf_tags(authority: str, repo: str) -> int:
    from dxf import DXF

    return len(list(DXF(authority, repo, insecure=True).list_aliases()))


def requests_tags(authority: str, repo: str) -> int:
    import requests

    with requests.Session() as session:
        response = session.get(f"http://{authority}/v2/{repo}/tags/list")
        response.raise_for_status()
        return len(response.json()["tags"])


def regwire_blob(authority: str, digest: str) -> int:
    with regwire.Client(insecure_registries=[authority], credentials=regwire.Credentials()) as c:
        return c.blob(f"{authority}/bench/blobs@{digest}", Null())  # type: ignore[arg-type]


def dxf_blob(authority: str, digest: str) -> int:
    from dxf import DXF

    total = 0
    pulled: Any = DXF(authority, "bench/blobs", insecure=True).pull_blob(digest, chunk_size=1 << 20)
    for chunk in pulled:
        total += len(chunk)  # python-dxf checks the digest as it iterates
    return total


def requests_blob(authority: str, digest: str) -> int:
    import requests

    hasher, total = hashlib.sha256(), 0
    with requests.get(f"http://{authority}/v2/bench/blobs/blobs/{digest}", stream=True) as r:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            hasher.update(chunk)
            total += len(chunk)
    if "sha256:" + hasher.hexdigest() != digest:
        raise RuntimeError("digest mismatch")
    return total


TAGS_SCRIPTS = {
    "python-dxf": "from dxf import DXF; import sys; "
    "print(len(DXF(sys.argv[1], sys.argv[2], insecure=True).list_aliases()))",
    "requests": "import requests, sys; "
    "print(len(requests.get(f'http://{sys.argv[1]}/v2/{sys.argv[2]}/tags/list').json()['tags']))",
}


def tags_process(client: str, authority: str, repo: str) -> Any:
    if client == "regwire":
        args = [sys.executable, "-m", "regwire", "tags", f"{authority}/{repo}", "--insecure"]
    else:
        args = [sys.executable, "-c", TAGS_SCRIPTS[client], authority, repo]
    return subprocess.run(args, capture_output=True, check=True)
