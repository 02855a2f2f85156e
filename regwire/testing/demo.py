"""``regwire demo``: the command against a model registry on loopback, no network needed.

The model is preloaded with what people meet in the wild: an OCI image, a Docker schema2 image,
a multi-arch index, a repository with many tags, all behind Bearer auth through a token realm.
The demo reads first, then writes: a copy into an OCI layout in a temporary folder, a push back
from it, a key made, the pushed image signed and its signature verified (the signing steps are
skipped with a note when the ``sign`` extra is not installed).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable

from .model import ModelRegistry
from .server import serve_model

__all__ = ["demo_registry", "run_demo"]


def demo_registry(authority: str) -> ModelRegistry:
    model = ModelRegistry(
        authority,
        scheme="http",
        auth="bearer",
        realm_host=authority,
        service="regwire-demo",
        default_page=50,
        users={"demo": "demo"},  # anonymous pulls; pushes as demo:demo
    )
    model.push_image(
        "library/alpine",
        "3.20",
        {
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": {"org.opencontainers.image.source": "https://example.invalid/alpine"},
            }
        },
        [b"alpine rootfs" * 1000],
    )
    model.push_image(
        "team/api",
        "v2",
        {
            "author": "team@example.invalid",
            "config": {"Entrypoint": ["/api"], "ExposedPorts": {"8080/tcp": {}}},
        },
        oci=False,
    )
    model.push_index(
        "library/busybox",
        "latest",
        [("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7")],
    )
    for i in range(120):
        model.put_manifest(
            "team/nightly",
            b"{}",
            "application/vnd.oci.image.manifest.v1+json",
            f"2024.{i // 30 + 1:02}.{i % 30 + 1:02}",
        )
    return model


def run_demo(main: Callable[[list[str]], int]) -> int:
    """Run the command ``main`` (the CLI's entry point, passed in) against the demo model."""
    server, _ = serve_model(demo_registry)
    with server:
        host = server.authority
        steps = [
            ["probe", host, "--insecure"],
            ["inspect", f"{host}/library/alpine:3.20", "--insecure"],
            [
                "inspect",
                f"{host}/library/busybox",
                "--platform",
                "linux/arm64",
                "--no-tags",
                "--insecure",
                "--jsonl",
            ],
            ["tags", f"{host}/team/nightly", "--json", "--insecure"],
            ["digest", f"{host}/team/api:v2", "--insecure"],
        ]
        for argv in steps:
            status = _step(main, [*argv, "--creds", ":"] if argv[0] != "probe" else argv)
            if status:
                return status
        with tempfile.TemporaryDirectory(prefix="regwire-demo-") as folder:
            return _writes(main, host, folder)


def _step(main: Callable[[list[str]], int], argv: list[str]) -> int:
    sys.stdout.write(f"\n$ regwire {' '.join(argv)}\n")
    sys.stdout.flush()
    return main(argv)


def _writes(main: Callable[[list[str]], int], host: str, folder: str) -> int:
    """The write side: a layout, a push, a signature and its verification."""
    layout, key, secret = (os.path.join(folder, name) for name in ("layout", "demo", "pass"))
    pushed = f"{host}/team/alpine:3.20"
    writer = ["--insecure", "--creds", "demo:demo"]
    steps = [
        ["copy", f"{host}/library/alpine:3.20", f"oci:{layout}:3.20", "--src-tls-verify=false"],
        [
            "copy",
            f"oci:{layout}:3.20",
            pushed,
            "--dest-tls-verify=false",
            "--dest-creds",
            "demo:demo",
        ],
    ]
    signing = all(importlib.util.find_spec(name) for name in ("cryptography", "nacl"))
    if signing:
        with open(secret, "w", encoding="utf-8") as file:
            file.write("demo passphrase\n")
        steps += [
            ["generate-key", "--output-prefix", key, "--passphrase-file", secret],
            ["sign", pushed, "--key", f"{key}.key", "--passphrase-file", secret, *writer],
            ["verify", pushed, "--key", f"{key}.pub", "--insecure"],
        ]
    for argv in steps:
        status = _step(main, argv)
        if status:
            return status
    if not signing:
        sys.stdout.write("\n(signing skipped: install regwire[sign] to see sign and verify here)\n")
    return 0
