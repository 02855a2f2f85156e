"""The pytest plugin's fixtures, and the model registry as a registry real tools accept."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import regwire
from regwire import Credentials
from regwire.testing.plugin import PASSWORD, USER, ServedRegistry
from tests.harness.distribution import image_manifest, index_descriptor, write_layout


def _round_trip(served: ServedRegistry, **client: Any) -> None:
    a = served.authority
    with regwire.Client(**client) as c:
        digest = c.push_blob(f"{a}/mine/app", io.BytesIO(b"hello"))
        assert c.blob_exists(f"{a}/mine/app@{digest}")
    assert served.model.repositories["mine/app"].blobs[digest] == b"hello"


def test_model_registry_fixture(model_registry: ServedRegistry) -> None:
    _round_trip(model_registry, insecure_registries=[model_registry.authority])


def test_model_registry_bearer_fixture(model_registry_bearer: ServedRegistry) -> None:
    _round_trip(
        model_registry_bearer,
        insecure_registries=[model_registry_bearer.authority],
        credentials=Credentials(USER, PASSWORD),
    )


def test_model_registry_tls_fixture(model_registry_tls: ServedRegistry) -> None:
    assert model_registry_tls.url.startswith("https://")
    _round_trip(model_registry_tls, ca_file=model_registry_tls.ca_file, credentials=Credentials())


def _skopeo(*args: str) -> bytes:
    done = subprocess.run(["skopeo", *args], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout


@pytest.mark.parametrize("auth", ["none", "bearer"])
def test_skopeo_copies_into_the_model_and_back_out(
    auth: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    served: ServedRegistry = request.getfixturevalue(
        "model_registry" if auth == "none" else "model_registry_bearer"
    )
    a = served.authority
    creds = [] if auth == "none" else ["--dest-creds", f"{USER}:{PASSWORD}"]
    src_creds = [] if auth == "none" else ["--src-creds", f"{USER}:{PASSWORD}"]
    read_creds = [] if auth == "none" else ["--creds", f"{USER}:{PASSWORD}"]
    layout = tmp_path / "layout"
    single = image_manifest(layout, config={"Labels": {"k": "v"}}, layers=2, seed="plugin")
    children = [image_manifest(layout, arch=arch, seed="multi") for arch in ("amd64", "arm64")]
    write_layout(layout, {"single": single, "multi": index_descriptor(layout, children)})
    for tag, extra in (("single", []), ("multi", ["--all"])):
        _skopeo(
            "copy",
            "--quiet",
            *extra,
            "--dest-tls-verify=false",
            *creds,
            f"oci:{layout}:{tag}",
            f"docker://{a}/mine/{tag}:1",
        )
        raw = _skopeo(
            "inspect", "--raw", "--tls-verify=false", *read_creds, f"docker://{a}/mine/{tag}:1"
        )
        digest = served.model.repositories[f"mine/{tag}"].tags["1"]
        assert served.model.repositories[f"mine/{tag}"].manifests[digest][1] == raw
        out = tmp_path / f"out-{tag}"
        _skopeo(
            "copy",
            "--quiet",
            *extra,
            "--src-tls-verify=false",
            *src_creds,
            f"docker://{a}/mine/{tag}:1",
            f"oci:{out}:back",
        )
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == digest  # digests kept both ways
    with regwire.Client(
        insecure_registries=[a],
        credentials=Credentials(USER, PASSWORD) if auth == "bearer" else Credentials(),
    ) as c:
        image = c.image(f"{a}/mine/single:1")
        assert image.config.labels == {"k": "v"}
        assert c.image(f"{a}/mine/multi:1", platform="linux/arm64").architecture == "arm64"
