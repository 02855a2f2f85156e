"""Every wire format decoded in one place: each malformed field is a ProtocolError, never a crash."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from regwire import PlatformNotFound, ProtocolError
from regwire.sansio import ConnectionFailed, Request, Response, Sleep
from regwire.sansio.digests import Verifier, digest_of, schema1_payload
from regwire.sansio.image import decode_image, parse_time
from regwire.sansio.manifests import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
    Platform,
    decode_json,
    decode_manifest,
)
from regwire.sansio.platforms import normalize, platform_vector, select_platform

URL = "https://r.test/v2/a/manifests/t"
D = "sha256:" + "a" * 64
CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 2}


def manifest(**fields: Any) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": CONFIG,
        "layers": [],
    }
    document.update(fields)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b"[]", "must be a JSON object"),
        (manifest(config=None), "has no config"),
        (manifest(config="x"), "must be a JSON object"),
        (manifest(layers="x"), "layers must be a list"),
        (manifest(layers=["x"]), "must be a JSON object"),
        (manifest(layers=[{"digest": 1}]), "digest must be a string"),
        (manifest(layers=[{"digest": "sha256:abc"}]), "64 lower-case hex"),
        (manifest(layers=[{"digest": D, "size": "1"}]), "size must be an integer"),
        (manifest(layers=[{"digest": D, "size": True}]), "size must be an integer"),
        (manifest(layers=[{"digest": D, "size": -1}]), "must not be negative"),
        (manifest(layers=[{"digest": D, "mediaType": 7}]), "mediaType must be a string"),
        (manifest(layers=[{"digest": D, "urls": "u"}]), "urls must be a list"),
        (manifest(layers=[{"digest": D, "urls": [1]}]), "list of strings"),
        (manifest(layers=[{"digest": D, "annotations": {"a": 1}}]), "object of strings"),
        (manifest(annotations=[]), "object of strings"),
        (manifest(artifactType=3), "artifactType must be a string"),
        (manifest(schemaVersion="2"), "schemaVersion must be an integer"),
        (
            json.dumps(
                {"mediaType": OCI_INDEX, "manifests": [{"digest": D, "platform": "x"}]}
            ).encode(),
            "must be a JSON object",
        ),
        (
            json.dumps(
                {"mediaType": OCI_INDEX, "manifests": [{"digest": D, "platform": {"os": 1}}]}
            ).encode(),
            "os must be a string",
        ),
        (json.dumps({"schemaVersion": 1, "history": []}).encode(), "no v1Compatibility history"),
        (
            json.dumps({"schemaVersion": 1, "history": [{"v1Compatibility": 1}]}).encode(),
            "v1Compatibility must be a string",
        ),
        (json.dumps({"schemaVersion": 3}).encode(), "cannot tell the manifest format"),
        (json.dumps({"mediaType": "text/html"}).encode(), "cannot tell the manifest format"),
    ],
)
def test_malformed_manifests(raw: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        decode_manifest(raw, D, None, URL)


@pytest.mark.parametrize(
    ("document", "content_type", "media_type"),
    [
        ({"schemaVersion": 2, "manifests": []}, "text/plain", OCI_INDEX),
        ({"schemaVersion": 2, "config": CONFIG}, "application/json", OCI_MANIFEST),
        ({"schemaVersion": 1, "history": [{"v1Compatibility": "{}"}]}, None, DOCKER_SCHEMA1),
        (
            {"schemaVersion": 1, "history": [{"v1Compatibility": "{}"}], "signatures": []},
            None,
            DOCKER_SCHEMA1_SIGNED,
        ),
        ({"schemaVersion": 2, "manifests": []}, f"{OCI_INDEX}; charset=utf-8", OCI_INDEX),
    ],
)
def test_media_type_from_header_or_body(
    document: dict[str, Any], content_type: str | None, media_type: str
) -> None:
    assert (
        decode_manifest(json.dumps(document).encode(), D, content_type, URL).media_type
        == media_type
    )


def test_descriptor_with_another_algorithm_and_urls() -> None:
    other = "sha512:" + "b" * 128
    decoded = decode_manifest(
        manifest(
            layers=[{"digest": other, "size": 3, "urls": ["https://x"], "annotations": {"k": "v"}}]
        ),
        D,
        None,
        URL,
    )
    assert decoded.layers[0].digest == other
    assert decoded.layers[0].urls == ("https://x",)
    assert decoded.layers[0].annotations == {"k": "v"}


def test_platform_selection_rules() -> None:
    def entry(os: str, arch: str, variant: str | None = None) -> dict[str, Any]:
        platform = {"os": os, "architecture": arch, **({"variant": variant} if variant else {})}
        return {
            "digest": "sha256:" + (os + arch + (variant or "")).encode().hex().ljust(64, "0")[:64],
            "platform": platform,
        }

    index = decode_manifest(
        json.dumps(
            {
                "mediaType": OCI_INDEX,
                "manifests": [
                    {"digest": D},
                    entry("linux", "arm", "v6"),
                    entry("linux", "arm", "v7"),
                    entry("linux", "arm64"),
                    entry("windows", "amd64"),
                ],
            }
        ).encode(),
        D,
        None,
        URL,
    )
    assert select_platform(index, Platform("linux", "arm"), "r").platform == Platform(
        "linux", "arm", "v7"
    )
    assert select_platform(index, Platform("linux", "arm", "v6"), "r").platform == Platform(
        "linux", "arm", "v6"
    )
    assert select_platform(index, Platform("linux", "arm64", "v8"), "r").platform == Platform(
        "linux", "arm64"
    )
    assert select_platform(index, Platform("windows", "amd64"), "r").platform is not None
    with pytest.raises(PlatformNotFound, match="linux/arm/v6"):
        select_platform(index, Platform("linux", "s390x"), "r")
    with pytest.raises(ValueError, match="OS/ARCH"):
        Platform.parse("linux")
    assert str(Platform.parse("linux/arm/v7")) == "linux/arm/v7"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"created": "yesterday"}', "not an RFC 3339 time"),
        (b'{"created": "2024-13-40T00:00:00Z"}', "out of range"),
        (b'{"Size": "big"}', "Size must be an integer"),
        (b'{"history": [1]}', "history must be a list of objects"),
        (b'{"config": {"ExposedPorts": []}}', "ExposedPorts must be an object"),
        (b'{"config": {"Cmd": 1}}', "Cmd must be a list"),
        (b'{"config": {"Labels": {"a": 1}}}', "object of strings"),
        (b'{"config": {"Env": "PATH"}}', "Env must be a list"),
    ],
)
def test_malformed_image_configs(raw: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        decode_image(raw, URL)


def test_image_config_spellings_and_times() -> None:
    old = decode_image(
        b'{"ContainerConfig": {"Cmd": "/bin/sh"}, "DockerVersion": "0.9",'
        b' "Config": {"ExposedPorts": {"80/tcp": {}}}}',
        URL,
    )
    assert old.container_config is not None and old.container_config.cmd == ("/bin/sh",)
    assert old.docker_version == "0.9" and old.config.exposed_ports == ("80/tcp",)
    assert parse_time("2024-01-02T03:04:05+02:00") == datetime(
        2024, 1, 2, 1, 4, 5, tzinfo=timezone.utc
    )
    assert parse_time("2024-01-02 03:04:05.5-01:30").minute == 34
    assert parse_time("2024-01-02T03:04:05").tzinfo is timezone.utc


def test_digests() -> None:
    with pytest.raises(ProtocolError, match="not supported"):
        digest_of(b"", "md5")
    verifier = Verifier(digest_of(b"abc"), URL)
    verifier.update(b"abc")
    assert verifier.check() == digest_of(b"abc") and verifier.size == 3
    assert schema1_payload(b'{"schemaVersion": 1}', URL) == b'{"schemaVersion": 1}'
    bad = json.dumps({"signatures": [{"protected": "!!"}]}).encode()
    with pytest.raises(ProtocolError, match="signature header"):
        schema1_payload(bad, URL)
    header = base64.urlsafe_b64encode(
        json.dumps({"formatLength": 10**9, "formatTail": ""}).encode()
    )
    far = json.dumps({"signatures": [{"protected": header.decode()}]}).encode()
    with pytest.raises(ProtocolError, match="out of range"):
        schema1_payload(far, URL)
    with pytest.raises(ProtocolError, match="nests too deeply"):
        decode_json(b'{"a":' * 100_000, URL, "x")


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: Request("TRACE", "https://x/"), "unsupported method"),
        (lambda: Request("GET", "/v2/"), "absolute"),
        (lambda: Request("GET", "https://x/", [("a", "b")]), "tuple"),  # type: ignore[arg-type]
        (lambda: Response(42), "3-digit"),
        (lambda: Response(200, [("a", "b")]), "tuple"),  # type: ignore[arg-type]
        (lambda: ConnectionFailed("gone"), "unknown connection failure"),  # type: ignore[arg-type]
        (lambda: Sleep(-1), "cannot sleep"),
        (lambda: Sleep(float("nan")), "cannot sleep"),
    ],
)
def test_events_validate_themselves(build: Any, problem: str) -> None:
    with pytest.raises((ValueError, TypeError), match=problem):
        build()


def test_header_lookup() -> None:
    from regwire.sansio.events import header_values

    response = Response(200, (("Warning", "a"), ("warning", "b"), ("X", "y")))
    assert response.header("WARNING") == "a"
    assert header_values(response.headers, "Warning") == ["a", "b"]
    assert Request("GET", "https://x/", (("Accept", "z"),)).header("accept") == "z"
    assert response.header("missing") is None


def test_body_decides_docker_schema2_without_any_media_type() -> None:
    # containers/image's GuessMIMEType: a Docker image config makes it Docker schema2.
    docker = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D},
        "layers": [],
    }
    oci = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D},
    }
    for content_type in (None, "application/json", "text/plain"):
        assert (
            decode_manifest(json.dumps(docker).encode(), D, content_type, URL).media_type
            == DOCKER_SCHEMA2
        )
        assert (
            decode_manifest(json.dumps(oci).encode(), D, content_type, URL).media_type
            == OCI_MANIFEST
        )


def test_schema_version_must_fit_the_format() -> None:
    with pytest.raises(ProtocolError, match="schemaVersion 1"):
        decode_manifest(
            json.dumps({"schemaVersion": 1, "config": {"digest": D}}).encode(), D, OCI_MANIFEST, URL
        )


def _index_of(*platforms: str) -> Any:
    children = []
    for i, text in enumerate(platforms):
        os, arch, *variant = text.split("/")
        platform = {"os": os, "architecture": arch, **({"variant": variant[0]} if variant else {})}
        children.append({"digest": "sha256:" + f"{i:x}".rjust(64, "0"), "platform": platform})
    return decode_manifest(
        json.dumps({"mediaType": OCI_INDEX, "manifests": children}).encode(), D, None, URL
    )


@pytest.mark.parametrize(
    ("wanted", "available", "chosen"),
    [
        # containerd's platforms.Only: arm/vN also runs vN-1 down to v5, best first.
        ("linux/arm/v7", ["linux/arm/v5", "linux/arm/v6"], "linux/arm/v6"),
        ("linux/arm/v7", ["linux/arm/v5"], "linux/arm/v5"),
        ("linux/arm/v7", ["linux/arm/v7", "linux/arm/v6"], "linux/arm/v7"),
        ("linux/arm/v6", ["linux/arm/v7"], None),
        ("linux/arm", ["linux/arm/v6", "linux/arm/v7"], "linux/arm/v7"),
        # arm64 (v8) runs 32-bit arm up to v8, after every arm64 image.
        ("linux/arm64", ["linux/arm/v7", "linux/arm64/v8"], "linux/arm64/v8"),
        ("linux/arm64", ["linux/arm/v6", "linux/arm/v7"], "linux/arm/v7"),
        ("linux/aarch64", ["linux/arm64"], "linux/arm64"),
        ("linux/arm64/v8.2", ["linux/arm64/v8.1", "linux/arm64"], "linux/arm64/v8.1"),
        ("linux/arm64/v9.1", ["linux/arm64/v8.6", "linux/arm64/v9"], "linux/arm64/v9"),
        ("linux/arm64/v9.1", ["linux/arm64/v8.6", "linux/arm64/v8.5"], "linux/arm64/v8.6"),
        # amd64/vN runs lower levels, then 386; a plain amd64 wants a plain amd64.
        ("linux/amd64/v3", ["linux/amd64/v2", "linux/amd64"], "linux/amd64/v2"),
        ("linux/amd64", ["linux/386"], "linux/386"),
        ("linux/amd64", ["linux/386", "linux/amd64"], "linux/amd64"),
        ("linux/x86_64", ["linux/amd64/v1"], "linux/amd64/v1"),
        ("linux/amd64", ["unknown/unknown", "windows/amd64"], None),
    ],
)
def test_platform_selection_follows_containerd(
    wanted: str, available: list[str], chosen: str | None
) -> None:
    index = _index_of(*available)
    if chosen is None:
        with pytest.raises(PlatformNotFound):
            select_platform(index, Platform.parse(wanted), "r")
        return
    picked = select_platform(index, Platform.parse(wanted), "r").platform
    assert str(picked) == chosen


def test_platform_vectors() -> None:
    assert platform_vector(normalize(Platform("linux", "arm", "v8"))) == [
        ("linux", "arm", f"v{n}") for n in (8, 7, 6, 5)
    ]
    assert platform_vector(normalize(Platform("linux", "arm64"))) == [
        ("linux", "arm64", ""),
        *[("linux", "arm", f"v{n}") for n in (8, 7, 6, 5)],
    ]
    assert normalize(Platform("Linux", "armhf")) == ("linux", "arm", "v7")
