"""What a copy does about signatures (issue 27): it carries cosign's attachments byte for byte
(unless told not to), a policy judges the source before anything is written, and
``sign_by`` signs what was written, through every driver and the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regwire.cli import main
from regwire.keys import generate_key
from regwire.sansio.errors import RegistryError, SignatureRejected
from regwire.sansio.signatures import attachment_tag
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

PASSPHRASE = b"pass phrase"


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
        model.push_image("team/plain", "v1", {"config": {"Labels": {"c": "d"}}})
        return model

    return serve_model(make)


def _run(driver: str, server: LoopbackServer, scenario: Any) -> Any:
    async def wrapped(client: Any) -> Any:
        try:
            return await scenario(client)
        except RegistryError as exc:
            return exc

    return run_with(
        driver, wrapped, insecure_registries=[server.authority], credentials=None, timeout=30
    )


def _policy(tmp_path: Path, document: object) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    return str(path)


def _signed_by(key: Path, identity: str = "matchRepoDigestOrExact") -> dict[str, object]:
    return {"type": "sigstoreSigned", "keyPath": str(key), "signedIdentity": {"type": identity}}


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_copy_carries_signatures_byte_for_byte_unless_removed(
    driver: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    server, model = _serve()
    host = server.authority
    digest = model.repositories["team/app"].tags["v1"]
    sig = attachment_tag(digest)
    layout = tmp_path / "layout"

    async def scenario(client: Any) -> Any:
        await client.sign(f"{host}/team/app:v1", str(keys["one"]), passphrase=PASSPHRASE)
        await client.copy(f"{host}/team/app:v1", f"{host}/mirror/app:v1")
        await client.copy(f"{host}/team/app:v1", f"{host}/bare/app:v1", remove_signatures=True)
        await client.copy(f"{host}/team/app:v1", f"oci:{layout}:v1")
        await client.copy(f"oci:{layout}:v1", f"{host}/again/app:v1")
        return await client.verify(
            f"{host}/again/app:v1", key=str(keys["one.pub"]), identity=f"{host}/team/app"
        )

    with server:
        verified = _run(driver, server, scenario)
    assert [v.digest for v in verified] == [digest]
    source = model.repositories["team/app"]
    for repository in ("mirror/app", "again/app"):
        copied = model.repositories[repository]
        assert copied.tags[sig] == source.tags[sig]  # the signature manifest, byte for byte
        assert copied.manifests[copied.tags[sig]] == source.manifests[source.tags[sig]]
    assert sig not in model.repositories["bare/app"].tags
    index = json.loads((layout / "index.json").read_text())
    names = {
        entry["annotations"]["org.opencontainers.image.ref.name"] for entry in index["manifests"]
    }
    assert names == {"v1", sig}  # cosign save's way: the signature under its tag


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_policy_judges_the_source_before_anything_is_written(
    driver: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    server, model = _serve()
    host = server.authority
    accepting = _policy(
        tmp_path,
        {
            "default": [{"type": "reject"}],
            "transports": {"docker": {f"{host}/team": [_signed_by(keys["one.pub"])]}},
        },
    )
    # the host's scope rejects, while the default accepts: the most specific scope decides
    host_rejects = tmp_path / "host.json"
    host_rejects.write_text(
        json.dumps(
            {
                "default": [{"type": "insecureAcceptAnything"}],
                "transports": {"docker": {host: [{"type": "reject"}]}},
            }
        )
    )

    async def scenario(client: Any) -> Any:
        await client.sign(f"{host}/team/app:v1", str(keys["one"]), passphrase=PASSPHRASE)
        outcomes = []
        for source, policy in [
            ("team/plain:v1", accepting),  # unsigned
            ("team/app:v1", str(host_rejects)),
        ]:
            try:
                await client.copy(f"{host}/{source}", f"{host}/out/{source}", policy=policy)
                outcomes.append("copied")
            except SignatureRejected as exc:
                outcomes.append(str(exc))
        outcomes.append(
            await client.copy(f"{host}/team/app:v1", f"{host}/ok/app:v1", policy=accepting)
        )
        return outcomes

    with server:
        unsigned, rejected, copied = _run(driver, server, scenario)
    assert "none exists" in unsigned and "sigstoreSigned" in unsigned
    assert "reject" in rejected and host in rejected
    assert copied == model.repositories["team/app"].tags["v1"]
    assert not any(name.startswith("out/") for name in model.repositories)  # nothing written


@pytest.mark.parametrize("driver", DRIVERS)
def test_sign_by_signs_the_copy_at_the_destination(driver: str, keys: dict[str, Path]) -> None:
    server, model = _serve()
    host = server.authority

    async def scenario(client: Any) -> Any:
        await client.copy(
            f"{host}/team/plain:v1",
            f"{host}/signed/plain:v2",
            sign_by=str(keys["two"]),
            sign_passphrase=PASSPHRASE,
        )
        return await client.verify(f"{host}/signed/plain:v2", key=str(keys["two.pub"]))

    with server:
        verified = _run(driver, server, scenario)
    assert [v.reference for v in verified] == [f"{host}/signed/plain:v2"]
    assert "signed/plain" in model.repositories
    # the source is not signed: only the destination is written to
    digest = model.repositories["team/plain"].tags["v1"]
    assert attachment_tag(digest) not in model.repositories["team/plain"].tags


def test_the_command_copies_with_a_policy_and_signs(
    keys: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, model = _serve()
    host = server.authority
    policy = _policy(tmp_path, {"default": [_signed_by(keys["one.pub"], "matchRepository")]})
    secret = tmp_path / "secret"
    secret.write_bytes(PASSPHRASE + b"\n")
    with server:
        flags = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        assert (
            main(
                ["copy", f"{host}/team/plain:v1", f"{host}/x/plain:v1", "--policy", policy, *flags]
            )
            == 6
        )
        assert "none exists" in capsys.readouterr().err
        assert "x/plain" not in model.repositories
        assert (
            main(
                [
                    "copy",
                    f"{host}/team/plain:v1",
                    f"{host}/y/plain:v1",
                    "--sign-by-sigstore-private-key",
                    str(keys["one"]),
                    "--sign-passphrase-file",
                    str(secret),
                    *flags,
                ]
            )
            == 0
        )
        capsys.readouterr()
        copied = main(
            ["copy", f"{host}/y/plain:v1", f"{host}/z/plain:v1", "--policy", policy, *flags]
        )
        assert copied == 0 and json.loads(capsys.readouterr().out)["Destination"].endswith(
            "z/plain:v1"
        )
        # the carried signature claims y/plain: matchRepository refuses it for z/plain
        assert main(["verify", f"{host}/z/plain:v1", "--policy", policy, "--insecure"]) == 6
        assert "is not accepted" in capsys.readouterr().err
        assert main(["verify", f"{host}/y/plain:v1", "--policy", policy, "--insecure"]) == 0
        assert "signed as" in capsys.readouterr().out


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_signed_source_into_an_archive_is_refused_before_a_byte_unless_removed(
    driver: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    server, _ = _serve()
    host = server.authority
    refused, kept = tmp_path / "refused.tar", tmp_path / "kept.tar"

    async def scenario(client: Any) -> Any:
        await client.sign(f"{host}/team/app:v1", str(keys["one"]), passphrase=PASSPHRASE)
        try:
            await client.copy(f"{host}/team/app:v1", f"docker-archive:{refused}")
            answer: Any = None
        except SignatureRejected as exc:
            answer = exc
        # (the model's layers are not gzip, which a docker-archive would unpack: oci-archive)
        await client.copy(f"{host}/team/app:v1", f"oci-archive:{kept}", remove_signatures=True)
        await client.copy(f"{host}/team/plain:v1", f"oci-archive:{tmp_path / 'plain.tar'}")
        return answer

    with server:
        answer = _run(driver, server, scenario)
    assert isinstance(answer, SignatureRejected) and "--remove-signatures" in str(answer)
    assert str(answer).startswith("docker-archive:") and "Archive(" not in str(answer)
    assert not refused.exists() and kept.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.tar", "plain.tar"]


class _MovingTag(ModelRegistry):
    """A registry whose tag moves to an unsigned image once the signatures were read: the
    copy must write what the policy judged, not what the tag names a moment later."""

    def handle(self, request: Any) -> Any:
        answer = super().handle(request)
        moving = request.method == "GET" and ".sig" in request.url and "/manifests/" in request.url
        if moving and answer.status == 200 and not getattr(self, "moved", False):
            self.moved = True
            plain = self.repositories["team/plain"].tags["v1"]
            media_type, raw = self.repositories["team/plain"].manifests[plain]
            for digest, blob in self.repositories["team/plain"].blobs.items():
                self.repositories["team/app"].blobs[digest] = blob
            self.put_manifest("team/app", raw, media_type, tag="v1")
        return answer


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_copy_under_a_policy_writes_the_manifest_it_judged_even_if_the_tag_moves(
    driver: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    def make(authority: str) -> ModelRegistry:
        model = _MovingTag(authority, scheme="http")
        model.push_image("team/app", "v1", {"config": {"Labels": {"a": "b"}}})
        model.push_image("team/plain", "v1", {"config": {"Labels": {"c": "d"}}})
        return model

    server, model = serve_model(make)
    host = server.authority
    signed = model.repositories["team/app"].tags["v1"]
    policy = _policy(tmp_path, {"default": [_signed_by(keys["one.pub"])]})

    async def scenario(client: Any) -> Any:
        await client.sign(f"{host}/team/app:v1", str(keys["one"]), passphrase=PASSPHRASE)
        return await client.copy(f"{host}/team/app:v1", f"{host}/prod/app:v1", policy=policy)

    with server:
        copied = _run(driver, server, scenario)
    assert model.repositories["team/app"].tags["v1"] != signed  # the tag did move
    assert copied == signed
    assert model.repositories["prod/app"].tags["v1"] == signed
