"""What a copy does with signatures when others write too (issue 27, found in review): it signs
the digest it copied, not what the tag names a moment later; it merges the source's signature
layers into the destination's instead of overwriting another signer's; a policy judges an
oci-archive source by its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import regwire
from regwire.keys import generate_key
from regwire.sansio.ends import CopyProgress
from regwire.sansio.signatures import attachment_tag
from regwire.testing.model import ModelRegistry
from regwire.testing.server import serve_model

PASS = b"pw"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    paths: dict[str, Path] = {}
    for name in ("one", "two"):
        private, public = generate_key(PASS)
        (folder / f"{name}.key").write_bytes(private)
        (folder / f"{name}.pub").write_bytes(public)
        paths[name], paths[f"{name}.pub"] = folder / f"{name}.key", folder / f"{name}.pub"
    return paths


def _serve() -> Any:
    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.push_image("team/app", "v1", {"config": {"Labels": {"a": "b"}}})
        return model

    return serve_model(make)


def _policy(tmp_path: Path, key: Path, identity: str = "matchRepository") -> str:
    path = tmp_path / "policy.json"
    requirement = {
        "type": "sigstoreSigned",
        "keyPath": str(key),
        "signedIdentity": {"type": identity},
    }
    path.write_text(json.dumps({"default": [requirement]}))
    return str(path)


def test_copy_policy_works_for_a_tag_that_starts_with_sha(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    """judge_source (trust.py:346) takes any reference starting with "sha" for a digest: a
    signed image tagged `sha-1a2b3c4` (docker/metadata-action's default) or `shared` cannot be
    copied with --policy; a ValueError ("no attachment tag") escapes instead of a verdict."""
    server, model = _serve()
    host = server.authority
    digest = model.repositories["team/app"].tags["v1"]
    model.repositories["team/app"].tags["sha-1a2b3c4"] = digest
    policy = _policy(tmp_path, keys["one.pub"])
    with server, regwire.Client(insecure_registries=[host]) as client:
        client.sign(f"{host}/team/app:v1", str(keys["one"]), passphrase=PASS)
        copied = client.copy(f"{host}/team/app:sha-1a2b3c4", f"{host}/out/app:x", policy=policy)
    assert copied == digest


def test_copy_policy_from_an_oci_archive_is_judged(tmp_path: Path) -> None:
    """An oci-archive source is judged with scope_path "" (trust.py:364), which path_scopes
    refuses: an insecureAcceptAnything policy cannot copy from an oci-archive at all."""
    server, _ = _serve()
    host = server.authority
    archive = tmp_path / "image.tar"
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    with server, regwire.Client(insecure_registries=[host]) as client:
        client.copy(f"{host}/team/app:v1", f"oci-archive:{archive}:v1")
        client.copy(f"oci-archive:{archive}:v1", f"{host}/out/app:v1", policy=str(path))


def test_copying_signatures_keeps_the_destinations_own_signatures(
    keys: dict[str, Path],
) -> None:
    """carry_attachments (trust.py:435) copies the source's .sig manifest over the
    destination's: a signature made at the destination by another signer is lost when the
    same image is copied there again (containers/image merges sigstore attachments)."""
    server, model = _serve()
    host = server.authority
    digest = model.repositories["team/app"].tags["v1"]
    with server, regwire.Client(insecure_registries=[host]) as client:
        client.sign(f"{host}/team/app:v1", str(keys["one"]), passphrase=PASS)
        client.copy(f"{host}/team/app:v1", f"{host}/prod/app:v1")
        client.sign(f"{host}/prod/app:v1", str(keys["two"]), passphrase=PASS)  # release key
        client.copy(f"{host}/team/app:v1", f"{host}/prod/app:v1")  # promoted again
        found = client.verify(
            f"{host}/prod/app:v1", key=str(keys["two.pub"]), identity=f"{host}/prod/app"
        )
    assert [v.digest for v in found] == [digest]


def test_sign_by_signs_the_digest_copied_not_what_the_tag_names_later(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    """copy(sign_by=) signs `written_as` by tag (operations.py:550-555): sign_at HEADs the
    destination tag again after the copy, so a push that moves the tag in between gets an
    image nobody judged signed with the user's key."""
    server, model = _serve()
    host = server.authority
    model.push_image("attacker/img", None, {"config": {"Labels": {"evil": "1"}}})

    moved: list[str] = []

    def progress(event: CopyProgress) -> None:
        if event.state == "manifest" and not moved:
            # another writer pushes to the same tag right after regwire's manifest went in
            moved.append(model.push_image("prod/app", "v1", {"config": {"Labels": {"evil": "1"}}}))

    with server, regwire.Client(insecure_registries=[host]) as client:
        copied = client.copy(
            f"{host}/team/app:v1",
            f"{host}/prod/app:v1",
            sign_by=str(keys["one"]),
            sign_passphrase=PASS,
            progress=progress,
        )
    tags = model.repositories["prod/app"].tags
    assert moved and tags["v1"] == moved[0] != copied
    assert attachment_tag(copied) in tags  # what was copied is signed
    assert attachment_tag(moved[0]) not in tags  # what regwire never wrote is not
