"""``regwire demo``: the command against a model registry on loopback, no network needed.

The model is preloaded with what people meet in the wild: an OCI image, a Docker schema2 image,
a multi-arch index, a repository with many tags, all behind Bearer auth through a token realm.
"""

from __future__ import annotations

import sys
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
            sys.stdout.write(f"\n$ regwire {' '.join(argv)}\n")
            sys.stdout.flush()
            status = main([*argv, "--creds", ":"] if argv[0] != "probe" else argv)
            if status:
                return status
    return 0
