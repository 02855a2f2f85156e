"""`regwire.drivers.logins`: how login and logout change credential files (no registry needed).

Every path is under ``tmp_path``; the environment is passed explicitly, never the real home.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from regwire.drivers.credentials import lookup_credentials
from regwire.drivers.logins import erase_login, store_login
from regwire.sansio.auth import Credentials
from regwire.sansio.errors import AuthenticationError

ACCOUNT = Credentials("alice", "pw-12345")
AUTH = base64.b64encode(b"alice:pw-12345").decode()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "REGISTRY_AUTH_FILE": str(tmp_path / "registry-auth.json"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }


def test_hub_is_keyed_as_docker_and_podman_key_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert store_login("docker.io", ACCOUNT, env=env) == str(tmp_path / "docker" / "config.json")
    config = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert config == {"auths": {"https://index.docker.io/v1/": {"auth": AUTH}}}
    assert lookup_credentials("docker.io", env) == ACCOUNT

    authfile = tmp_path / "auth.json"
    store_login("docker.io", ACCOUNT, auth_file=str(authfile), env=env)
    assert json.loads(authfile.read_text()) == {"auths": {"docker.io": {"auth": AUTH}}}


def test_an_entry_keeps_its_key_and_loses_a_stale_token(tmp_path: Path) -> None:
    env = _env(tmp_path)
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    stale = {"auth": "b2xkOm9sZA==", "identitytoken": "stale-refresh-token"}
    config.write_text(json.dumps({"auths": {"index.docker.io": stale, "r.io": {"auth": "x"}}}))
    store_login("docker.io", ACCOUNT, env=env)
    document = json.loads(config.read_text())
    assert document == {"auths": {"index.docker.io": {"auth": AUTH}, "r.io": {"auth": "x"}}}
    assert lookup_credentials("docker.io", env) == ACCOUNT  # no identity token left to win


def test_logout_erases_every_spelling_of_the_registry(tmp_path: Path) -> None:
    env = _env(tmp_path)
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    entry = {"auth": AUTH}
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": entry,
                    "docker.io": entry,
                    "registry-1.docker.io": entry,
                    "quay.io": entry,
                }
            }
        )
    )
    assert erase_login("docker.io", env=env) == [str(config)]
    assert json.loads(config.read_text()) == {"auths": {"quay.io": entry}}
    assert lookup_credentials("docker.io", env) is None


def test_logout_skips_what_the_lookup_skips(tmp_path: Path) -> None:
    env = _env(tmp_path)
    unreadable = tmp_path / "registry-auth.json"
    unreadable.write_text("not json {")
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(
        json.dumps({"credHelpers": {"r.io": None}, "auths": {"r.io": {"auth": AUTH}}})
    )
    assert erase_login("r.io", env=env) == [str(config)]
    assert unreadable.read_text() == "not json {"
    assert json.loads(config.read_text()) == {"credHelpers": {"r.io": None}, "auths": {}}


def test_login_will_not_write_over_a_file_it_cannot_read(tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    authfile.write_text("[1, 2]")
    with pytest.raises(AuthenticationError, match="not a JSON object"):
        store_login("r.io", ACCOUNT, auth_file=str(authfile))
    assert authfile.read_text() == "[1, 2]"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authfile = tmp_path / "auth.json"
    authfile.write_text('{"auths": {}}')

    def broken(source: str, target: str) -> None:
        raise OSError(28, "No space left on device", target)

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        store_login("r.io", ACCOUNT, auth_file=str(authfile))
    assert authfile.read_text() == '{"auths": {}}'
    assert os.listdir(tmp_path) == ["auth.json"]


def test_a_new_file_and_its_directory_are_private(tmp_path: Path) -> None:
    authfile = tmp_path / "new" / "auth.json"
    old = os.umask(0)  # the widest umask: the modes must not depend on the caller's
    try:
        store_login("r.io", ACCOUNT, auth_file=str(authfile))
    finally:
        os.umask(old)
    assert authfile.stat().st_mode & 0o777 == 0o600
    assert authfile.parent.stat().st_mode & 0o077 == 0
