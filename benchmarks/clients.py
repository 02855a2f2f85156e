"""Each client doing each workload, as people use it.

Every function takes the registry's authority, credentials (or None) and the workload's inputs,
does the work, and returns something checkable (digests, tag counts), so a client that cut a
corner would be caught by the runner comparing answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import subprocess
import sys
from typing import Any
from urllib.parse import urlencode, urlsplit

import regwire
from regwire.sansio import Limits
from regwire.sansio.manifests import ACCEPT

Creds = tuple[str, str] | None
CA: dict[str, str] = {}  # "file": the registry's CA bundle, "dir": a cert dir holding it


def use_ca(ca_file: str | None) -> None:
    """Trust ``ca_file`` in every client (the benchmark registries serve TLS from trustme)."""
    import os
    import shutil
    import tempfile

    CA.clear()
    if ca_file:
        directory = tempfile.mkdtemp(prefix="bench-certs-")
        shutil.copy(ca_file, os.path.join(directory, "ca.crt"))
        CA.update(file=ca_file, dir=directory)


def _skopeo_tls() -> list[str]:
    return [f"--cert-dir={CA['dir']}"] if CA else ["--tls-verify=false"]


def _split(ref: str) -> tuple[str, str, str]:
    authority, _, rest = ref.partition("/")
    repo, _, tag = rest.rpartition(":")
    return authority, repo, tag


def _regwire_kwargs(authority: str, creds: Creds, **extra: Any) -> dict[str, Any]:
    credentials = regwire.Credentials(*creds) if creds else regwire.Credentials()
    if CA:
        return {"ca_file": CA["file"], "credentials": credentials, **extra}
    return {"insecure_registries": [authority], "credentials": credentials, **extra}


# -- workload 1 and 4: inspect images ---------------------------------------------------------


def regwire_sync_inspect(authority: str, creds: Creds, refs: list[str]) -> list[str]:
    with regwire.Client(**_regwire_kwargs(authority, creds)) as client:
        results = client.images(refs)  # tokens first, then one image after another
    for result in results:
        if isinstance(result, Exception):
            raise result
    return [str(r.config_digest) for r in results]  # type: ignore[union-attr]


def regwire_async_inspect(
    driver: str, authority: str, creds: Creds, refs: list[str], concurrency: int = 16
) -> list[str]:
    kwargs = _regwire_kwargs(authority, creds, max_connections=concurrency)

    async def main() -> list[str]:
        if driver == "trio":
            from regwire.drivers.trio import Client as TrioClient

            async with TrioClient(**kwargs) as client:
                results = await client.images(refs, concurrency=concurrency)
        else:
            from regwire.drivers.asyncio import Client as AsyncioClient

            async with AsyncioClient(**kwargs) as client:
                results = await client.images(refs, concurrency=concurrency)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return [str(r.config_digest) for r in results]  # type: ignore[union-attr]

    if driver == "trio":
        import trio

        return trio.run(main)
    return asyncio.run(main())


def _amd64(index: dict[str, Any]) -> str:
    for entry in index["manifests"]:
        platform = entry.get("platform", {})
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return str(entry["digest"])
    raise LookupError("no linux/amd64 manifest")


def dxf_inspect(authority: str, creds: Creds, refs: list[str]) -> list[str]:
    from dxf import DXF

    def auth(dxf: Any, response: Any) -> None:
        if creds:
            dxf.authenticate(*creds, response=response)
        else:
            dxf.authenticate(response=response)

    configs = []
    for ref in refs:
        host, repo, tag = _split(ref)
        dxf = DXF(host, repo, auth, insecure=not CA, tlsverify=CA.get("file", True))
        answer = dxf.get_manifest(tag, platform="linux/amd64")  # resolves an index itself
        if isinstance(answer, dict):
            answer = answer["linux/amd64"]
        manifest = json.loads(answer)
        digest = manifest["config"]["digest"]
        config = b"".join(dxf.pull_blob(digest))
        json.loads(config)
        configs.append(digest)
    return configs


def oras_inspect(authority: str, creds: Creds, refs: list[str]) -> list[str]:
    import oras.client

    client = oras.client.OrasClient(
        hostname=authority, insecure=not CA, tls_verify=CA.get("file", True)
    )
    if creds:
        client.auth.set_basic_auth(*creds)
    accept = ACCEPT.split(", ")
    configs = []
    for ref in refs:
        host, repo, tag = _split(ref)
        # oras-py resends its cached token, unchanged, to a new repository's 401 and fails:
        # forget it between repositories, as its users must.
        client.auth.token = None
        manifest = client.get_manifest(f"{host}/{repo}:{tag}", allowed_media_type=accept)
        if "manifests" in manifest:
            manifest = client.get_manifest(
                f"{host}/{repo}@{_amd64(manifest)}", allowed_media_type=accept
            )
        digest = manifest["config"]["digest"]
        client.get_blob(f"{host}/{repo}:{tag}", digest).json()
        configs.append(digest)
    return configs


def skopeo_inspect(authority: str, creds: Creds, refs: list[str]) -> list[str]:
    """One ``skopeo inspect`` process per image, as people script it."""
    configs = []
    for ref in refs:
        args = ["skopeo", "inspect", *_skopeo_tls(), "--config"]
        if creds:
            args += ["--creds", ":".join(creds)]
        out = subprocess.run([*args, f"docker://{ref}"], capture_output=True, check=True).stdout
        configs.append(hashlib.sha256(out).hexdigest())  # --config prints the config, re-encoded
    return configs


class _Bare:
    """A keep-alive http.client loop with a token fetched beforehand: the ceiling."""

    def __init__(self, authority: str, creds: Creds, repositories: list[str]) -> None:
        host, _, port = authority.partition(":")
        self.conn: http.client.HTTPConnection
        if CA:
            import ssl

            context = ssl.create_default_context(cafile=CA["file"])
            self.conn = http.client.HTTPSConnection(host, int(port), context=context)
        else:
            self.conn = http.client.HTTPConnection(host, int(port))
        self.headers: dict[str, str] = {}
        self.tokens: dict[str, dict[str, str]] = {}  # repository -> its Authorization header
        self.conn.request("GET", "/v2/")
        response = self.conn.getresponse()
        response.read()
        challenge = response.getheader("WWW-Authenticate")
        if challenge and challenge.startswith("Bearer"):
            params = dict(
                part.split("=", 1)
                for part in challenge[len("Bearer ") :].replace('"', "").split(",")
            )
            names = sorted(set(repositories))
            scopes = [f"repository:{r}:pull" for r in names]
            realm = urlsplit(params["realm"])
            for start in range(0, len(scopes), 40):
                query = urlencode(
                    [
                        ("service", params.get("service", "")),
                        *(("scope", s) for s in scopes[start : start + 40]),
                    ]
                )
                realm_conn: http.client.HTTPConnection
                if realm.scheme == "https":
                    import ssl

                    context = ssl.create_default_context(cafile=CA.get("file"))
                    realm_conn = http.client.HTTPSConnection(
                        realm.hostname or "", realm.port, context=context
                    )
                else:
                    realm_conn = http.client.HTTPConnection(realm.hostname or "", realm.port)
                auth = {}
                if creds:
                    import base64

                    auth = {
                        "Authorization": "Basic "
                        + base64.b64encode(":".join(creds).encode()).decode()
                    }
                realm_conn.request("GET", f"{realm.path}?{query}", headers=auth)
                token = json.loads(realm_conn.getresponse().read())["token"]
                realm_conn.close()
                for name in names[start : start + 40]:
                    self.tokens[name] = {"Authorization": f"Bearer {token}"}
            self.headers = next(iter(self.tokens.values()), {})

    def get(self, path: str, accept: str | None = None) -> tuple[bytes, dict[str, str]]:
        repository = path[len("/v2/") :].rsplit("/", 2)[0]
        headers = dict(self.tokens.get(repository, self.headers))
        if accept:
            headers["Accept"] = accept
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status}")
        return body, {k.lower(): v for k, v in response.getheaders()}


def bare_prepare(authority: str, creds: Creds, refs: list[str]) -> _Bare:
    return _Bare(authority, creds, [_split(ref)[1] for ref in refs])


def bare_inspect(bare: _Bare, refs: list[str]) -> list[str]:
    configs = []
    for ref in refs:
        _, repo, tag = _split(ref)
        manifest = json.loads(bare.get(f"/v2/{repo}/manifests/{tag}", ACCEPT)[0])
        if "manifests" in manifest:
            manifest = json.loads(bare.get(f"/v2/{repo}/manifests/{_amd64(manifest)}", ACCEPT)[0])
        digest = manifest["config"]["digest"]
        json.loads(bare.get(f"/v2/{repo}/blobs/{digest}")[0])
        configs.append(digest)
    return configs


# -- workload 2: tags -------------------------------------------------------------------------


def regwire_sync_tags(authority: str, creds: Creds, repo: str) -> int:
    kwargs = _regwire_kwargs(authority, creds, limits=Limits(page_size=100))
    with regwire.Client(**kwargs) as client:
        return len(client.tags(f"{authority}/{repo}"))


def regwire_async_tags(driver: str, authority: str, creds: Creds, repo: str) -> int:
    kwargs = _regwire_kwargs(authority, creds, limits=Limits(page_size=100))

    async def main() -> int:
        if driver == "trio":
            from regwire.drivers.trio import Client as TrioClient

            async with TrioClient(**kwargs) as client:
                return len(await client.tags(f"{authority}/{repo}"))
        from regwire.drivers.asyncio import Client as AsyncioClient

        async with AsyncioClient(**kwargs) as aclient:
            return len(await aclient.tags(f"{authority}/{repo}"))

    if driver == "trio":
        import trio

        return trio.run(main)
    return asyncio.run(main())


def dxf_tags(authority: str, creds: Creds, repo: str) -> int:
    from dxf import DXF

    def auth(dxf: Any, response: Any) -> None:
        dxf.authenticate(*(creds or ()), response=response)

    dxf = DXF(authority, repo, auth, insecure=not CA, tlsverify=CA.get("file", True))
    return len(dxf.list_aliases(batch_size=100))


def oras_tags(authority: str, creds: Creds, repo: str) -> int:
    import oras.client

    client = oras.client.OrasClient(
        hostname=authority, insecure=not CA, tls_verify=CA.get("file", True)
    )
    if creds:
        client.auth.set_basic_auth(*creds)
    # oras-py's N limits how many tags it returns (it is not a page size): ask for all.
    return len(client.get_tags(f"{authority}/{repo}"))


def skopeo_tags(authority: str, creds: Creds, repo: str) -> int:
    args = ["skopeo", "list-tags", *_skopeo_tls()]
    if creds:
        args += ["--creds", ":".join(creds)]
    out = subprocess.run([*args, f"docker://{authority}/{repo}"], capture_output=True, check=True)
    return len(json.loads(out.stdout)["Tags"])


def bare_tags(bare: _Bare, repo: str) -> int:
    from regwire.sansio.links import next_link

    url = f"http://x/v2/{repo}/tags/list?n=100"
    count = 0
    while url:
        parts = urlsplit(url)
        body, headers = bare.get(f"{parts.path}?{parts.query}")
        count += len(json.loads(body)["tags"])
        url = next_link(headers.get("link"), url) or ""
    return count


# -- workload 6: processes --------------------------------------------------------------------


def regwire_process(args: list[str], creds: Creds) -> bytes:
    tls = [f"--cert-dir={CA['dir']}"] if CA else ["--insecure"]
    extra = [*tls, "--creds", ":".join(creds) if creds else ":"]
    return subprocess.run(
        [sys.executable, "-m", "regwire", *args, *extra], capture_output=True, check=True
    ).stdout
