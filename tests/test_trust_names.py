"""The name a policy judges and a signature claims is the one registries.conf resolved (issue
27, found in review): a short name read from a search registry was judged by its Docker Hub
normalisation, so a scope meant for docker.io decided an image read from elsewhere. Podman
(containers/image) judges each candidate by its resolved name, and so does regwire."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import regwire
from regwire.keys import generate_key
from regwire.sansio.errors import SignatureRejected
from regwire.sansio.registries_conf import RegistriesConf
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _policy(tmp_path: Path, host: str) -> str:
    _, public = generate_key(b"x")
    (tmp_path / "k.pub").write_bytes(public)
    document = {
        # Everything must be signed by our key...
        "default": [{"type": "sigstoreSigned", "keyPath": str(tmp_path / "k.pub")}],
        # ...but Docker Hub's "team" namespace is trusted as is.
        "transports": {"docker": {"docker.io/team": [{"type": "insecureAcceptAnything"}]}},
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    return str(path)


def _serve() -> tuple[LoopbackServer, ModelRegistry]:
    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.push_image("team/app", "v1", {"config": {"Labels": {"unsigned": "yes"}}})
        return model

    return serve_model(make)


def test_copy_policy_judges_a_short_name_by_where_it_is_read(tmp_path: Path) -> None:
    server, model = _serve()
    host = server.authority
    conf = RegistriesConf.from_dict(tomllib.loads(f'unqualified-search-registries = ["{host}"]\n'))
    policy = _policy(tmp_path, host)
    client = regwire.Client(insecure_registries=[host], registries_conf=conf)
    # `team/app:v1` is read from {host}/team/app:v1, an unsigned image outside docker.io:
    # the default (sigstoreSigned) must decide, and reject it.
    with server, client, pytest.raises(SignatureRejected):
        client.copy("team/app:v1", f"{host}/copied/app:v1", policy=policy)
    assert "copied/app" not in model.repositories


def test_verify_policy_judges_a_short_name_by_where_it_is_read(tmp_path: Path) -> None:
    server, _ = _serve()
    host = server.authority
    conf = RegistriesConf.from_dict(tomllib.loads(f'unqualified-search-registries = ["{host}"]\n'))
    policy = _policy(tmp_path, host)
    client = regwire.Client(insecure_registries=[host], registries_conf=conf)
    with server, client, pytest.raises(SignatureRejected):
        client.verify("team/app:v1", policy=policy)


def test_sign_claims_the_name_a_short_name_resolves_to(tmp_path: Path) -> None:
    server, _ = _serve()
    host = server.authority
    conf = RegistriesConf.from_dict(tomllib.loads(f'unqualified-search-registries = ["{host}"]\n'))
    private, public = generate_key(b"x")
    with server, regwire.Client(insecure_registries=[host], registries_conf=conf) as client:
        client.sign("team/app:v1", private, passphrase=b"x")
        found = client.verify(f"{host}/team/app:v1", key=public)
    assert [v.reference for v in found] == [f"{host}/team/app:v1"]
