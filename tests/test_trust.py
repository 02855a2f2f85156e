"""Signing and verifying with keys (issue 27), end to end: every driver signs into the model
registry over loopback and verifies what it signed; each kind of tampering is refused with its
reason; the command exits 6 naming it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from regwire.cli import main
from regwire.keys import generate_key, load_private_key
from regwire.sansio.errors import RegistryError, SignatureRejected
from regwire.sansio.manifests import OCI_MANIFEST
from regwire.sansio.signatures import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Payload,
    attachment_tag,
)
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

PASSPHRASE = b"correct horse"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    paths: dict[str, Path] = {}
    for name in ("one", "two"):
        private, public = generate_key(PASSPHRASE)
        (folder / f"{name}.key").write_bytes(private)
        (folder / f"{name}.pub").write_bytes(public)
        paths[name], paths[f"{name}.pub"] = folder / f"{name}.key", folder / f"{name}.pub"
    return paths


def _serve() -> tuple[LoopbackServer, ModelRegistry]:
    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.push_image("team/app", "v1", {"config": {"Labels": {"a": "b"}}})
        model.push_image("team/other", "v1", {"config": {"Labels": {"c": "d"}}})
        return model

    return serve_model(make)


def _run(driver: str, server: LoopbackServer, scenario: Any) -> Any:
    async def wrapped(client: Any) -> Any:
        try:
            return await scenario(client)
        except RegistryError as exc:
            return exc

    return run_with(
        driver, wrapped, insecure_registries=[server.authority], credentials=None, timeout=20
    )


def _signature_layers(model: ModelRegistry, repository: str, digest: str) -> list[Any]:
    repo = model.repositories[repository]
    media_type, raw = repo.manifests[repo.tags[attachment_tag(digest)]]
    assert media_type == OCI_MANIFEST
    return list(json.loads(raw)["layers"])


@pytest.mark.parametrize("driver", DRIVERS)
def test_sign_then_verify_on_every_driver(driver: str, keys: dict[str, Path]) -> None:
    server, model = _serve()
    image = f"{server.authority}/team/app:v1"
    digest = model.repositories["team/app"].tags["v1"]

    async def scenario(client: Any) -> Any:
        signed = await client.sign(image, str(keys["one"]), passphrase=PASSPHRASE)
        again = await client.sign(
            image, keys["two"].read_bytes(), passphrase=PASSPHRASE, annotations={"ci": "yes"}
        )
        verified = await client.verify(image, key=str(keys["one.pub"]))
        by_two = await client.verify(f"{server.authority}/team/app@{digest}", key=keys["two.pub"])
        return signed, again, verified, by_two

    with server:
        signed, again, verified, by_two = _run(driver, server, scenario)
    assert signed == again == digest
    layers = _signature_layers(model, "team/app", digest)
    assert [layer["mediaType"] for layer in layers] == [SIMPLE_SIGNING, SIMPLE_SIGNING]
    payload = Payload.parse(model.repositories["team/app"].blobs[layers[0]["digest"]])
    assert (payload.digest, payload.identity) == (digest, image)
    assert [v.digest for v in verified] == [digest] and verified[0].reference == image
    assert len(by_two) == 1 and by_two[0].optional == {"ci": "yes"}
    assert by_two[0].key != verified[0].key


def _tamper(model: ModelRegistry, repository: str, digest: str, change: Any) -> None:
    """Rewrite the signature manifest of ``digest`` with ``change(layers)`` applied."""
    repo = model.repositories[repository]
    tag = attachment_tag(digest)
    media_type, raw = repo.manifests[repo.tags[tag]]
    document = json.loads(raw)
    change(document["layers"], repo)
    model.put_manifest(repository, json.dumps(document).encode(), media_type, tag=tag)


def _resign_payload(layers: list[Any], repo: Any, digest: str, identity: str, key: Path) -> None:
    from regwire.sansio.signatures import make_payload

    signer = load_private_key(key.read_bytes(), PASSPHRASE)
    payload = make_payload(digest, identity)
    from regwire.sansio.digests import digest_of

    repo.blobs[digest_of(payload)] = payload
    layers[0]["digest"], layers[0]["size"] = digest_of(payload), len(payload)
    layers[0]["annotations"][SIGNATURE_ANNOTATION] = base64.b64encode(signer.sign(payload)).decode()


TAMPERING = {
    "another key": ("two.pub", None, "does not verify with"),
    "payload for another digest": ("one.pub", "digest", "not the manifest"),
    "identity of another repository": ("one.pub", "identity", "the signature is for"),
    "annotation of another layer": ("one.pub", "swap", "does not verify with"),
    "tag answers with the image": ("one.pub", "image", "none exists (1 attachments"),
    "no signature": ("one.pub", "none", "none exists"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
@pytest.mark.parametrize("driver", DRIVERS)
def test_tampering_is_refused_with_its_reason(
    driver: str, keys: dict[str, Path], case: str
) -> None:
    server, model = _serve()
    key, how, reason = TAMPERING[case]
    image = f"{server.authority}/team/app:v1"
    digest = model.repositories["team/app"].tags["v1"]

    async def sign(client: Any) -> Any:
        await client.sign(image, str(keys["one"]), passphrase=PASSPHRASE)
        if how == "swap":  # a second signature, then the two layers' signatures exchanged
            await client.sign(
                image, str(keys["one"]), passphrase=PASSPHRASE, annotations={"x": "y"}
            )

    async def verify(client: Any) -> Any:
        return await client.verify(image, key=str(keys[key]))

    with server:
        if how != "none":
            _run(driver, server, sign)
        if how == "digest":
            other = "sha256:" + "0" * 64
            _tamper(
                model,
                "team/app",
                digest,
                lambda layers, repo: _resign_payload(layers, repo, other, image, keys["one"]),
            )
        elif how == "identity":
            elsewhere = f"{server.authority}/team/other:v1"
            _tamper(
                model,
                "team/app",
                digest,
                lambda layers, repo: _resign_payload(layers, repo, digest, elsewhere, keys["one"]),
            )
        elif how == "swap":

            def swap(layers: list[Any], repo: Any) -> None:
                a, b = layers[0]["annotations"], layers[1]["annotations"]
                a[SIGNATURE_ANNOTATION], b[SIGNATURE_ANNOTATION] = (
                    b[SIGNATURE_ANNOTATION],
                    a[SIGNATURE_ANNOTATION],
                )

            _tamper(model, "team/app", digest, swap)
        elif how == "image":
            repo = model.repositories["team/app"]
            repo.tags[attachment_tag(digest)] = digest  # the .sig tag names the image itself
        answer = _run(driver, server, verify)
    assert isinstance(answer, SignatureRejected), answer
    assert reason in str(answer)


def test_the_command_signs_verifies_and_exits_6_on_rejection(
    keys: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, model = _serve()
    image = f"{server.authority}/team/app:v1"
    digest = model.repositories["team/app"].tags["v1"]
    secret = tmp_path / "pass"
    secret.write_bytes(PASSPHRASE + b"\n")
    with server:
        common = ["--insecure"]
        assert (
            main(
                [
                    "sign",
                    image,
                    "--key",
                    str(keys["one"]),
                    "--passphrase-file",
                    str(secret),
                    *common,
                ]
            )
            == 0
        )
        assert capsys.readouterr().out.strip() == digest
        assert main(["verify", image, "--key", str(keys["one.pub"]), "--json", *common]) == 0
        found = json.loads(capsys.readouterr().out)
        assert [(f["digest"], f["reference"]) for f in found] == [(digest, image)]
        assert main(["verify", image, "--key", str(keys["two.pub"]), *common]) == 6
        err = capsys.readouterr().err
        assert "no signature was accepted" in err and "does not verify with" in err
        assert "Traceback" not in err
        other = f"{server.authority}/team/other:v1"
        assert main(["verify", other, "--key", str(keys["one.pub"]), *common]) == 6
        assert "none exists" in capsys.readouterr().err
        # a wrong passphrase is the user's input: exit 2, nothing written
        secret.write_bytes(b"wrong\n")
        before = dict(model.repositories["team/app"].tags)
        assert (
            main(
                [
                    "sign",
                    image,
                    "--key",
                    str(keys["one"]),
                    "--passphrase-file",
                    str(secret),
                    *common,
                ]
            )
            == 2
        )
        assert "passphrase" in capsys.readouterr().err
        assert model.repositories["team/app"].tags == before


@pytest.mark.parametrize("driver", DRIVERS)
def test_registries_d_says_where_signatures_are_read(
    driver: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    server, _ = _serve()
    image = f"{server.authority}/team/app:v1"
    policy = tmp_path / "policy.json"
    rule = {"type": "sigstoreSigned", "keyPath": str(keys["one.pub"])}
    policy.write_text(json.dumps({"default": [rule]}))
    on, off = tmp_path / "on", tmp_path / "off"
    for folder, value in ((on, "true"), (off, "false")):
        folder.mkdir()
        (folder / "a.yaml").write_text(
            f"docker:\n  {server.authority}/team:\n    use-sigstore-attachments: {value}\n"
        )

    async def scenario(client: Any) -> Any:
        await client.sign(image, str(keys["one"]), passphrase=PASSPHRASE)
        accepted = await client.verify(image, policy=str(policy), registries_d=str(on))
        try:
            await client.verify(image, policy=str(policy), registries_d=str(off))
        except SignatureRejected as exc:
            return accepted, exc
        return accepted, None

    with server:
        accepted, refused = _run(driver, server, scenario)
    assert len(accepted) == 1
    assert isinstance(refused, SignatureRejected) and "use-sigstore-attachments" in str(refused)


def test_a_policy_judges_a_name_without_a_tag_as_latest(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.push_image("team/app", "latest", {"config": {"Labels": {"a": "b"}}})
        return model

    server, _ = serve_model(make)
    image = f"{server.authority}/team/app"
    policy = tmp_path / "policy.json"
    rule = {"type": "sigstoreSigned", "keyPath": str(keys["one.pub"])}  # matchRepoDigestOrExact
    policy.write_text(json.dumps({"default": [rule]}))

    async def scenario(client: Any) -> Any:
        await client.sign(image, str(keys["one"]), passphrase=PASSPHRASE)
        return await client.verify(image, policy=str(policy))

    with server:
        verified = _run("sync", server, scenario)
    assert [v.reference for v in verified] == [f"{image}:latest"]  # as skopeo signs and judges it
