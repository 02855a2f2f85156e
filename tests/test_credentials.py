"""Credentials from Docker's config.json, containers' auth.json and credential helpers."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from regwire import AuthenticationError
from regwire.drivers.credentials import lookup_credentials, run_helper


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
    with pytest.raises(AuthenticationError, match="exit status 1") as failed:
        lookup_credentials("b.io", env)
    assert "boom" not in str(failed.value)


def test_helper_names_must_be_bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "evil.sh"
    ran = tmp_path / "ran"
    evil.write_text(f"#!/bin/sh\ntouch {ran}\necho '{{}}'\n")
    evil.chmod(0o755)
    (tmp_path / "bin" / "docker-credential-x").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "bin")
    for name in ("x/../../evil.sh", "/bin/sh", "../evil.sh", ""):
        write(tmp_path / "d" / "config.json", {"credHelpers": {"r.io": name}})
        env = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "d")}
        if not name:
            assert lookup_credentials("r.io", env) is None  # an empty entry names no helper
            continue
        with pytest.raises(AuthenticationError, match="not a bare program name"):
            lookup_credentials("r.io", env)
    assert not ran.exists()


def test_helper_output_stays_out_of_errors_and_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper(tmp_path, "leaky", "echo 'the-secret-itself: not json'")
    helper(tmp_path, "failing", "echo 'Secret: hunter2-secret'; exit 3")
    helper(tmp_path, "endless", "yes secret-secret-secret")
    helper(tmp_path, "slow", "sleep 30")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    for name, problem in [
        ("leaky", "not its JSON"),
        ("failing", "exit status 3"),
        ("endless", "over 65536 bytes"),
    ]:
        with pytest.raises(AuthenticationError, match=problem) as failed:
            run_helper(name, "r.io")
        assert not any(
            leaked in str(failed.value) for leaked in ("the-secret", "hunter2", "secret-secret")
        )
    with pytest.raises(AuthenticationError, match=r"took over 0\.5 s"):
        run_helper("slow", "r.io", timeout=0.5)
