"""Signatures regwire makes, on the real ``docker-registry`` (issue 27), read back by skopeo.

Images are pushed with ``skopeo copy`` (OCI, Docker schema2, an OCI index), signed with the
``regwire sign`` command using a key ``regwire generate-key`` wrote, and what landed in the
registry is read with ``skopeo inspect --raw`` (the ``sha256-<hex>.sig`` manifest, byte for
byte) and plain HTTP (its payloads and config): the layout cosign uses, checked field by field,
and each signature checked with the ``cryptography`` package directly, not through regwire.

skopeo is only a reader here. Debian's skopeo (1.9.3+ds1) has sigstore patched out ("Debian-
local change: sigstore disabled"): it can neither sign with ``--sign-by-sigstore-private-key``
nor evaluate a ``sigstoreSigned`` policy, so it cannot judge regwire's signatures. Real cosign
signatures are judged in tests/test_trust_fixtures.py instead.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regwire.cli import main
from regwire.sansio.errors import RegistryError
from regwire.sansio.signatures import SIGNATURE_ANNOTATION, SIMPLE_SIGNING
from tests.harness.distribution import (
    PASSWORD,
    USER,
    RealRegistry,
    image_manifest,
    index_descriptor,
    write_layout,
)
from tests.harness.drivers import DRIVERS, run_with

pytestmark = pytest.mark.registry

PASSPHRASE = "a passphrase for the real registry"
FLAGS = ["--creds", f"{USER}:{PASSWORD}", "--insecure"]  # the commands' login to the registry
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
# name -> (layout tag, skopeo --format, --all)
IMAGES = {
    "app/oci": ("single", None, False),
    "app/schema2": ("single", "v2s2", False),
    "app/index": ("multi", None, True),
    "app/plain": ("single", None, False),  # never signed
    "copy/source": ("single", "v2s2", False),
    "foreign/app": ("single", None, False),
    **{f"lib/{driver}": ("single", None, False) for driver in DRIVERS},
}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRegistry]:
    root = tmp_path_factory.mktemp("trust")
    registry = RealRegistry(root / "registry", "basic")
    try:
        layout = root / "layout"
        single = image_manifest(layout, layers=1, seed="trust-single")
        children = [
            image_manifest(layout, arch=arch, variant=variant, seed="trust-multi")
            for arch, variant in (("amd64", None), ("arm64", "v8"))
        ]
        write_layout(layout, {"single": single, "multi": index_descriptor(layout, children)})
        for name, (tag, fmt, every) in IMAGES.items():
            registry.push(layout, f"{name}:1", tag=tag, fmt=fmt, all_images=every)
        yield registry
    finally:
        registry.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two key pairs written by ``regwire generate-key``, and the passphrase file."""
    folder = tmp_path_factory.mktemp("keys")
    secret = folder / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    paths = {"passphrase": secret}
    for name in ("one", "two"):
        prefix = folder / name
        command = ["generate-key", "--output-prefix", str(prefix), "--passphrase-file", str(secret)]
        assert main(command) == 0
        paths[name], paths[f"{name}.pub"] = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
        # the PEM type skopeo 1.9 reads (cosign reads it and the newer SIGSTORE one)
        assert paths[name].read_text().startswith("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    return paths


# --- reading what is in the registry without regwire -----------------------------------------


def http_get(real: RealRegistry, path: str, accept: str = "") -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", real.port, timeout=30)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    if accept:
        headers["Accept"] = accept
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, (path, response.status, body[:300])
    return body


def raw(real: RealRegistry, ref: str) -> bytes:
    """``skopeo inspect --raw`` of ``ref`` (repository:tag) in the registry."""
    out = real.skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{real.authority}/{ref}")
    return bytes(out)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sig_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def catalog(real: RealRegistry) -> list[str]:
    return list(json.loads(http_get(real, "/v2/_catalog?n=1000"))["repositories"])


def cosign_payload(digest: str, identity: str) -> bytes:
    """The payload ``cosign sign`` writes for ``identity`` at ``digest``, byte for byte (Go's
    encoding/json of its struct: the fields in this order, no spaces, optional null)."""
    return (
        '{"critical":{"identity":{"docker-reference":"'
        + identity
        + '"},"image":{"docker-manifest-digest":"'
        + digest
        + '"},"type":"cosign container image signature"},"optional":null}'
    ).encode()


def ecdsa_verifies(public_pem: bytes, payload: bytes, signature_b64: str) -> bool:
    """cosign's check of a P-256 key's signature: ECDSA over SHA-256 of the payload, DER."""
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    try:
        key.verify(base64.b64decode(signature_b64), payload, ec.ECDSA(hashes.SHA256()))
    except Exception:  # cryptography's InvalidSignature
        return False
    return True


def signature_layers(real: RealRegistry, repository: str, digest: str) -> list[dict[str, Any]]:
    """The layers of the ``.sig`` manifest of ``digest``, after checking it is laid out as
    cosign and containers/image lay it out: an OCI manifest, an OCI config listing each
    payload's digest as a diff ID, each layer a simple-signing payload with its signature."""
    document = json.loads(raw(real, f"{repository}:{sig_tag(digest)}"))
    assert document["schemaVersion"] == 2 and document["mediaType"] == OCI_MANIFEST
    assert document["config"]["mediaType"] == OCI_CONFIG
    config = http_get(real, f"/v2/{repository}/blobs/{document['config']['digest']}")
    assert sha256(config) == document["config"]["digest"]
    assert len(config) == document["config"]["size"]
    layers: list[dict[str, Any]] = document["layers"]
    assert json.loads(config)["rootfs"] == {
        "type": "layers",
        "diff_ids": [layer["digest"] for layer in layers],
    }
    for layer in layers:
        assert layer["mediaType"] == SIMPLE_SIGNING
        assert set(layer["annotations"]) == {SIGNATURE_ANNOTATION}
        payload = http_get(real, f"/v2/{repository}/blobs/{layer['digest']}")
        assert sha256(payload) == layer["digest"] and len(payload) == layer["size"]
        layer["payload"] = payload
    return layers


def copy_flags(src: str = "docker://", dst: str = "docker://") -> list[str]:
    """The login and plain-HTTP flags of a copy's registry ends (a layout takes none)."""
    found = []
    for end, where in (("src", src), ("dest", dst)):
        if where.startswith("docker://"):
            found += [f"--{end}-creds", f"{USER}:{PASSWORD}", f"--{end}-tls-verify=false"]
    return found


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["app/oci", "app/schema2", "app/index"])
def test_the_command_signs_and_a_second_signer_appends(
    real: RealRegistry,
    keys: dict[str, Path],
    name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = f"{real.authority}/{name}:1"
    digest = sha256(raw(real, f"{name}:1"))  # an index's own digest for an index
    secret = ["--passphrase-file", str(keys["passphrase"])]
    assert main(["sign", image, "--key", str(keys["one"]), *secret, *FLAGS]) == 0
    assert capsys.readouterr().out.strip() == digest
    assert main(["verify", image, "--key", str(keys["one.pub"]), "--json", *FLAGS]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert [(v["digest"], v["reference"]) for v in verified] == [(digest, image)]
    # one signer: the other key is not trusted yet
    assert main(["verify", image, "--key", str(keys["two.pub"]), *FLAGS]) == 6
    assert "does not verify with" in capsys.readouterr().err

    assert main(["sign", image, "--key", str(keys["two"]), *secret, *FLAGS]) == 0
    assert capsys.readouterr().out.strip() == digest
    layers = signature_layers(real, name, digest)
    assert len(layers) == 2  # the first signer's layer kept, the second appended
    for layer, key in zip(layers, ("one.pub", "two.pub"), strict=True):
        assert layer["payload"] == cosign_payload(digest, image)
        public = keys[key].read_bytes()
        assert ecdsa_verifies(public, layer["payload"], layer["annotations"][SIGNATURE_ANNOTATION])
    other = keys["two.pub"].read_bytes()
    assert not ecdsa_verifies(
        other, layers[0]["payload"], layers[0]["annotations"][SIGNATURE_ANNOTATION]
    )
    both = ["--key", str(keys["one.pub"]), "--key", str(keys["two.pub"])]
    assert main(["verify", image, *both, "--json", *FLAGS]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    # the image itself is untouched: the same bytes as skopeo pushed
    assert sha256(raw(real, f"{name}:1")) == digest


def test_an_index_signature_is_the_index_s_not_its_children(
    real: RealRegistry, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Signing an index signs the index's digest (as cosign sign does without --recursive):
    a child verified by its own digest has no signature."""
    index = json.loads(raw(real, "app/index:1"))
    child = index["manifests"][0]["digest"]
    secret = ["--passphrase-file", str(keys["passphrase"])]
    app_index = f"{real.authority}/app/index:1"
    assert main(["sign", app_index, "--key", str(keys["one"]), *secret, *FLAGS]) == 0
    capsys.readouterr()
    at_child = f"{real.authority}/app/index@{child}"
    assert main(["verify", at_child, "--key", str(keys["one.pub"]), *FLAGS]) == 6
    assert "none exists" in capsys.readouterr().err
    assert sig_tag(child) not in real.list_tags("app/index")
    assert sig_tag(sha256(raw(real, "app/index:1"))) in real.list_tags("app/index")


def test_a_copy_carries_the_signature_tag_byte_for_byte(
    real: RealRegistry, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"{real.authority}/app/schema2:1"
    digest = sha256(raw(real, "app/schema2:1"))
    secret = ["--passphrase-file", str(keys["passphrase"])]
    assert main(["sign", source, "--key", str(keys["one"]), *secret, *FLAGS]) == 0
    capsys.readouterr()
    mirror = f"{real.authority}/mirror/schema2:1"
    assert main(["copy", f"docker://{source}", f"docker://{mirror}", *copy_flags()]) == 0
    capsys.readouterr()
    signature = raw(real, f"app/schema2:{sig_tag(digest)}")
    assert raw(real, f"mirror/schema2:{sig_tag(digest)}") == signature  # the same digest
    assert sha256(raw(real, "mirror/schema2:1")) == digest
    assert sig_tag(digest) in real.list_tags("mirror/schema2")
    # the carried signature names where it was signed: verified there with --signed-identity
    names_source = ["--signed-identity", f"{real.authority}/app/schema2"]
    command = ["verify", mirror, "--key", str(keys["one.pub"]), *names_source, "--json"]
    assert main([*command, *FLAGS]) == 0
    found = json.loads(capsys.readouterr().out)  # the earlier test's signature too
    assert found and {(v["digest"], v["reference"]) for v in found} == {(digest, source)}
    assert main(["verify", mirror, "--key", str(keys["one.pub"]), *FLAGS]) == 6
    assert "the signature is for" in capsys.readouterr().err


def test_copy_with_a_policy_refuses_an_unsigned_image_and_writes_nothing(
    real: RealRegistry, keys: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {
                        f"{real.authority}/app": [
                            {
                                "type": "sigstoreSigned",
                                "keyPath": str(keys["one.pub"]),
                                "signedIdentity": {"type": "matchRepository"},
                            }
                        ]
                    }
                },
            }
        )
    )
    before = catalog(real)
    plain = f"docker://{real.authority}/app/plain:1"
    refused = f"docker://{real.authority}/refused/plain:1"
    assert main(["copy", plain, refused, "--policy", str(policy), *copy_flags()]) == 6
    err = capsys.readouterr().err
    assert "requires a signature" in err and "none exists" in err and "Traceback" not in err
    after = catalog(real)
    assert "refused/plain" not in after and after == before  # nothing written, not even a blob
    # a host the policy's default rejects: refused before reading a signature
    elsewhere = f"docker://{real.authority}/lib/trio:1"
    assert main(["copy", elsewhere, refused, "--policy", str(policy), *copy_flags()]) == 6
    assert "rejects it" in capsys.readouterr().err
    assert catalog(real) == before
    # a signed image passes the same policy
    secret = ["--passphrase-file", str(keys["passphrase"])]
    signed = f"{real.authority}/app/oci:1"
    assert main(["sign", signed, "--key", str(keys["one"]), *secret, *FLAGS]) == 0
    capsys.readouterr()
    accepted = f"docker://{real.authority}/accepted/oci:1"
    assert (
        main(["copy", f"docker://{signed}", accepted, "--policy", str(policy), *copy_flags()]) == 0
    )
    assert raw(real, "accepted/oci:1") == raw(real, "app/oci:1")


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_library_signs_on_every_driver(
    real: RealRegistry, keys: dict[str, Path], driver: str, tmp_path: Path
) -> None:
    image = f"{real.authority}/lib/{driver}:1"
    auth = tmp_path / "auth.json"
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth.write_text(json.dumps({"auths": {real.authority: {"auth": token}}}))

    async def scenario(client: Any) -> Any:
        try:
            signed = await client.sign(
                image, str(keys["two"]), passphrase=PASSPHRASE, annotations={"driver": driver}
            )
            verified = await client.verify(image, key=keys["two.pub"].read_bytes())
            refused: Any = None
            try:
                await client.verify(image, key=str(keys["one.pub"]))
            except RegistryError as exc:
                refused = exc
            return signed, verified, refused
        except RegistryError as exc:
            return exc

    answer = run_with(
        driver, scenario, insecure_registries=[real.authority], auth_file=str(auth), timeout=30
    )
    assert not isinstance(answer, RegistryError), answer
    signed, verified, refused = answer
    digest = sha256(raw(real, f"lib/{driver}:1"))
    assert signed == digest
    assert [(v.digest, v.reference, dict(v.optional)) for v in verified] == [
        (digest, image, {"driver": driver})
    ]
    assert refused is not None and "does not verify with" in str(refused)
    (layer,) = signature_layers(real, f"lib/{driver}", digest)
    payload = json.loads(layer["payload"])
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert payload["optional"] == {"driver": driver}
    public = keys["two.pub"].read_bytes()
    assert ecdsa_verifies(public, layer["payload"], layer["annotations"][SIGNATURE_ANNOTATION])


def test_copies_keep_remove_save_and_sign_signatures(
    real: RealRegistry, keys: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``copy`` does with cosign's attachments on the real registry: ``.sig`` and ``.att``
    carried (the same digests), left behind with --remove-signatures, kept under their tags in
    an ``oci:`` layout and pushed back from it as they were (as cosign save and load do), and
    a copy signed at its destination with --sign-by-sigstore-private-key."""
    name = "copy/source"
    source = f"docker://{real.authority}/{name}:1"
    digest = sha256(raw(real, f"{name}:1"))
    secret = ["--passphrase-file", str(keys["passphrase"])]
    assert main(["sign", source[9:], "--key", str(keys["one"]), *secret, *FLAGS]) == 0
    capsys.readouterr()
    # an attestation beside it: any OCI manifest under the .att tag (skopeo pushes one)
    att = digest.replace(":", "-") + ".att"
    layout = tmp_path / "attestation"
    write_layout(layout, {"att": image_manifest(layout, seed="trust-attestation")})
    real.push(layout, f"{name}:{att}", tag="att")
    signature, attestation = raw(real, f"{name}:{sig_tag(digest)}"), raw(real, f"{name}:{att}")

    def copy(src: str, dst: str, *extra: str) -> None:
        assert main(["copy", src, dst, *extra, *copy_flags(src, dst)]) == 0, capsys.readouterr()
        capsys.readouterr()

    copy(source, f"docker://{real.authority}/kept/source:1")
    assert raw(real, f"kept/source:{sig_tag(digest)}") == signature
    assert raw(real, f"kept/source:{att}") == attestation
    copy(source, f"docker://{real.authority}/bare/source:1", "--remove-signatures")
    assert set(real.list_tags("bare/source")) == {"1"}
    saved = tmp_path / "saved"
    copy(source, f"oci:{saved}:1")
    names = {
        entry["annotations"]["org.opencontainers.image.ref.name"]
        for entry in json.loads((saved / "index.json").read_text())["manifests"]
    }
    assert names == {"1", sig_tag(digest), att}
    copy(f"oci:{saved}:1", f"docker://{real.authority}/loaded/source:1")
    assert raw(real, f"loaded/source:{sig_tag(digest)}") == signature
    assert raw(real, f"loaded/source:{att}") == attestation
    # signed at the destination, claiming the destination's reference
    signing = ["--sign-by-sigstore-private-key", str(keys["two"])]
    signing += ["--sign-passphrase-file", str(keys["passphrase"])]
    plain = f"docker://{real.authority}/app/plain:1"
    copy(plain, f"docker://{real.authority}/signed/plain:2", *signing)
    plain_digest = sha256(raw(real, "app/plain:1"))
    (layer,) = signature_layers(real, "signed/plain", plain_digest)
    assert layer["payload"] == cosign_payload(plain_digest, f"{real.authority}/signed/plain:2")
    public = keys["two.pub"].read_bytes()
    assert ecdsa_verifies(public, layer["payload"], layer["annotations"][SIGNATURE_ANNOTATION])
    assert sig_tag(plain_digest) not in real.list_tags("app/plain")  # the source is untouched


def test_signing_appends_to_a_signature_manifest_cosign_wrote(
    real: RealRegistry, keys: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another tool signed first: a ``.sig`` manifest as cosign pushes it (go-containerregistry's
    layout, its config with ``created`` and ``history``), its signature made with
    ``cryptography`` by a key regwire never saw. ``regwire sign`` appends its layer as
    containers/image does (the config's other fields kept, one diff ID added), the first
    signer's layer stays byte for byte, and both keys verify."""
    from tests.test_trust_fixtures import Layer, cosign_signature_manifest

    name = "foreign/app"
    image = f"{real.authority}/{name}:1"
    digest = sha256(raw(real, f"{name}:1"))
    foreign = ec.generate_private_key(ec.SECP256R1())
    foreign_pub = tmp_path / "foreign.pub"
    foreign_pub.write_bytes(
        foreign.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    payload = cosign_payload(digest, f"{real.authority}/{name}")  # cosign signs the repository
    signature = base64.b64encode(foreign.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    first = Layer(SIMPLE_SIGNING, payload, {SIGNATURE_ANNOTATION: signature})
    manifest, config = cosign_signature_manifest([first])
    for blob in (payload, config):
        path = tmp_path / sha256(blob).replace(":", "-")
        path.write_bytes(blob)
        real.put_blob(name, path)
    real.put_manifest(name, sig_tag(digest), manifest, OCI_MANIFEST)
    assert raw(real, f"{name}:{sig_tag(digest)}") == manifest

    foreign_key = ["--key", str(foreign_pub)]
    assert main(["verify", image, *foreign_key, "--json", *FLAGS]) == 0
    assert json.loads(capsys.readouterr().out)[0]["reference"] == f"{real.authority}/{name}"
    secret = ["--passphrase-file", str(keys["passphrase"])]
    assert main(["sign", image, "--key", str(keys["one"]), *secret, *FLAGS]) == 0
    capsys.readouterr()

    layers = signature_layers(real, name, digest)
    cosigns = json.loads(manifest)["layers"][0]
    assert {k: v for k, v in layers[0].items() if k != "payload"} == cosigns
    assert len(layers) == 2 and layers[1]["payload"] == cosign_payload(digest, image)
    document = json.loads(raw(real, f"{name}:{sig_tag(digest)}"))
    now = json.loads(http_get(real, f"/v2/{name}/blobs/{document['config']['digest']}"))
    before = json.loads(config)
    assert {k: v for k, v in now.items() if k != "rootfs"} == {
        k: v for k, v in before.items() if k != "rootfs"
    }
    both = [*foreign_key, "--key", str(keys["one.pub"])]
    assert main(["verify", image, *both, "--json", *FLAGS]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
