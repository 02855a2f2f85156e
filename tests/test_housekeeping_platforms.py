"""inspect --all-platforms (issue 31): every entry of an index with its platform, manifest and
config digests, layers and created time; a plain image as a list of one; several images, one
list each in order (one line each with --jsonl)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from regwire.cli import main
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model


def _make(authority: str) -> ModelRegistry:
    model = ModelRegistry(authority, scheme="http")
    model.push_index("w/multi", "v1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
    model.push_image("w/plain", "v1", {"created": "2024-05-06T07:08:09Z"}, [b"one", b"two"])
    return model


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(_make)
    with server:
        yield server, model


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["inspect", "--all-platforms", *argv, "--insecure", "--creds", ":"])
    out, err = capsys.readouterr()
    return status, out, err


def _expected(model: ModelRegistry, repository: str, digest: str) -> dict[str, Any]:
    manifest = json.loads(model.repositories[repository].manifests[digest][1])
    return {
        "Digest": digest,
        "ConfigDigest": manifest["config"]["digest"],
        "Layers": [layer["digest"] for layer in manifest["layers"]],
    }


def test_an_index_of_two_platforms(
    served: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, model = served
    status, out, err = _run(capsys, f"{server.authority}/w/multi:v1")
    assert status == 0, err
    shown = json.loads(out)
    index = json.loads(
        model.repositories["w/multi"].manifests[model.repositories["w/multi"].tags["v1"]][1]
    )
    assert [entry["Platform"] for entry in shown] == ["linux/amd64", "linux/arm64/v8"]
    assert [entry["Variant"] for entry in shown] == [None, "v8"]
    for entry, descriptor in zip(shown, index["manifests"], strict=True):
        assert {k: entry[k] for k in ("Digest", "ConfigDigest", "Layers")} == _expected(
            model, "w/multi", descriptor["digest"]
        )
        assert entry["MediaType"] == descriptor["mediaType"] and "Created" in entry
    assert shown[0]["ConfigDigest"] != shown[1]["ConfigDigest"]


def test_a_plain_image_is_a_list_of_one(
    served: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, model = served
    status, out, _ = _run(capsys, f"{server.authority}/w/plain:v1")
    assert status == 0
    (entry,) = json.loads(out)
    digest = model.repositories["w/plain"].tags["v1"]
    assert {k: entry[k] for k in ("Digest", "ConfigDigest", "Layers")} == _expected(
        model, "w/plain", digest
    )
    assert entry["Platform"] == "linux/amd64" and entry["Created"] == "2024-05-06T07:08:09Z"


def test_several_images_one_list_each_in_order(
    served: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = served
    refs = [f"{server.authority}/w/plain:v1", f"{server.authority}/w/multi:v1"]
    status, out, _ = _run(capsys, *refs)
    assert status == 0
    assert [len(listed) for listed in json.loads(out)] == [1, 2]
    status, out, _ = _run(capsys, "--jsonl", *reversed(refs))
    lines = out.splitlines()
    assert status == 0 and [len(json.loads(line)) for line in lines] == [2, 1]


def test_all_platforms_excludes_one_platform_options(
    served: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = served
    status, _, err = _run(capsys, "--raw", f"{server.authority}/w/plain:v1")
    assert status == 2 and "--all-platforms" in err
    status, _, err = _run(capsys, f"{server.authority}/w/nothing:v1")
    assert status == 3
