"""Credentials from Docker's config.json, containers' auth.json and credential helpers."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from regwire import AuthenticationError
from regwire.drivers.credentials import lookup_credentials


def write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_docker_config_auths(tmp_path: Path) -> None:
    auth = base64.b64encode(b"bob:pw:with:colons").decode()
    write(
        tmp_path / "docker" / "config.json",
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": auth},
                "ghcr.io": {"identitytoken": "refresh"},
                "https://quay.io/v2/": {"username": "q", "password": "p"},
            }
        },
    )
    env = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")}
    hub = lookup_credentials("docker.io", env)
    assert hub is not None and (hub.username, hub.password) == ("bob", "pw:with:colons")
    ghcr = lookup_credentials("ghcr.io", env)
    assert ghcr is not None and ghcr.identity_token == "refresh"
    quay = lookup_credentials("quay.io", env)
    assert quay is not None and quay.username == "q"
    assert lookup_credentials("other.io", env) is None


def test_auth_file_order(tmp_path: Path) -> None:
    write(tmp_path / "a.json", {"auths": {"r.io": {"auth": base64.b64encode(b"first:1").decode()}}})
    write(
        tmp_path / "run" / "containers" / "auth.json",
        {"auths": {"r.io": {"auth": base64.b64encode(b"second:2").decode()}}},
    )
    env = {
        "HOME": str(tmp_path),
        "REGISTRY_AUTH_FILE": str(tmp_path / "a.json"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    found = lookup_credentials("r.io", env)
    assert found is not None and found.username == "first"
    del env["REGISTRY_AUTH_FILE"]
    found = lookup_credentials("r.io", env)
    assert found is not None and found.username == "second"


def helper(tmp_path: Path, name: str, body: str) -> None:
    script = tmp_path / "bin" / f"docker-credential-{name}"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_cred_helpers_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper(
        tmp_path,
        "fake",
        'read server; echo "{\\"Username\\":\\"h-$server\\",\\"Secret\\":\\"s\\"}"',
    )
    helper(tmp_path, "tokens", 'echo \'{"Username":"<token>","Secret":"idt"}\'')
    helper(tmp_path, "broken", "echo boom >&2; exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    write(
        tmp_path / "d" / "config.json",
        {"credHelpers": {"r.io": "fake", "t.io": "tokens", "b.io": "broken"}, "credsStore": "fake"},
    )
    env = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "d")}
    found = lookup_credentials("r.io", env)
    assert found is not None and found.username == "h-r.io"
    token = lookup_credentials("t.io", env)
    assert token is not None and token.identity_token == "idt" and not token.username
    store = lookup_credentials("docker.io", env)
    assert store is not None and store.username == "h-https://index.docker.io/v1/"
    with pytest.raises(AuthenticationError, match="boom"):
        lookup_credentials("b.io", env)
