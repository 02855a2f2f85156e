"""Reading policy.json, the key files it names, and registries.d (`regwire.drivers.policy_files`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regwire.drivers import policy_files
from regwire.drivers.policy_files import (
    load_policy,
    load_registries_d,
    policy_path,
    registries_d_path,
)
from regwire.sansio.errors import InvalidPolicy
from regwire.sansio.policy import (
    AcceptAnything,
    KeySource,
    MatchRepository,
    Reject,
    SigstoreSigned,
)
from regwire.sansio.reference import Reference
from regwire.sansio.registries_d import Section

SIGSTORE = Path(__file__).resolve().parent / "fixtures" / "sigstore"


def write_policy(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], Path]:
    """A home directory and a system directory of our own, both empty."""
    system = tmp_path / "etc" / "containers"
    monkeypatch.setattr(policy_files, "SYSTEM_POLICY", system / "policy.json")
    monkeypatch.setattr(policy_files, "SYSTEM_REGISTRIES_D", system / "registries.d")
    return {"HOME": str(tmp_path / "home")}, system


def test_keys_named_by_path_are_read_into_the_policy(tmp_path: Path) -> None:
    relative = tmp_path / "keys" / "second.pub"
    relative.parent.mkdir()
    relative.write_bytes(b"second key")
    policy = load_policy(
        write_policy(
            tmp_path / "policy.json",
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {
                        "quay.io/signed": [
                            {
                                "type": "sigstoreSigned",
                                "keyPaths": [str(SIGSTORE / "cosign.pub"), str(relative)],
                                "signedIdentity": {"type": "matchRepository"},
                            }
                        ]
                    }
                },
            },
        )
    )
    assert policy.source == str(tmp_path / "policy.json")
    assert policy.requirements_for(Reference.parse("quay.io/signed/app:1")) == (
        SigstoreSigned(
            (
                KeySource(data=(SIGSTORE / "cosign.pub").read_bytes()),
                KeySource(data=b"second key"),
            ),
            MatchRepository(),
        ),
    )


def test_a_missing_key_file_is_invalid_policy_at_load(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path / "policy.json",
        {"default": [{"type": "sigstoreSigned", "keyPath": str(tmp_path / "absent.pub")}]},
    )
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(path)
    assert str(tmp_path / "absent.pub") in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_shared_fixture_names_keys_that_are_not_here() -> None:
    """containers/image's fixture names /keys/public-key for a sigstoreSigned scope: loading it
    for real says which file is missing (its GPG keyrings are never read, as signedBy is not
    evaluated)."""
    with pytest.raises(InvalidPolicy, match="/keys/public-key"):
        load_policy(SIGSTORE / "policy.json")


def test_a_policy_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicy, match="no such file"):
        load_policy(tmp_path / "absent.json")
    with pytest.raises(InvalidPolicy, match="cannot be read"):
        load_policy(tmp_path)  # a directory
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidPolicy, match="not valid JSON") as caught:
        load_policy(tmp_path / "bad.json")
    assert caught.value.source == str(tmp_path / "bad.json")


def test_the_user_policy_comes_before_the_system_one(places: tuple[dict[str, str], Path]) -> None:
    env, system = places
    home = Path(env["HOME"])
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(env=env)
    assert str(home / ".config/containers/policy.json") in str(caught.value)
    assert str(system / "policy.json") in str(caught.value)

    write_policy(system / "policy.json", {"default": [{"type": "reject"}]})
    assert policy_path(env) == system / "policy.json"
    assert load_policy(env=env).default == (Reject(),)

    write_policy(
        home / ".config/containers/policy.json", {"default": [{"type": "insecureAcceptAnything"}]}
    )
    assert policy_path(env) == home / ".config/containers/policy.json"
    assert load_policy(env=env).default == (AcceptAnything(),)
    # a path given wins over both
    given = write_policy(home / "mine.json", {"default": [{"type": "reject"}]})
    assert load_policy(str(given), env=env).source == str(given)


def test_registries_d_merges_yaml_files_in_name_order(tmp_path: Path) -> None:
    directory = tmp_path / "registries.d"
    directory.mkdir()
    (directory / "b.yaml").write_text("docker:\n  quay.io:\n    use-sigstore-attachments: true\n")
    (directory / "a.yaml").write_text("default-docker:\n  lookaside: file:///sigs\n")
    (directory / "c.yml").write_text("not: [read")  # only .yaml, as containers/image
    (directory / "notes.txt").write_text("}")
    config = load_registries_d(directory)
    assert config.default_docker == Section(lookaside="file:///sigs")
    assert config.docker == (("quay.io", Section(use_sigstore_attachments=True)),)
    assert config.use_sigstore_attachments(Reference.parse("quay.io/a/b:1"))


def test_registries_d_conflicts_and_errors_name_the_files(tmp_path: Path) -> None:
    directory = tmp_path / "registries.d"
    directory.mkdir()
    (directory / "0.yaml").write_text("docker:\n example.com:\n  lookaside: file:///a\n")
    (directory / "1.yaml").write_text("docker:\n example.com:\n  lookaside: file:///b\n")
    with pytest.raises(InvalidPolicy) as caught:
        load_registries_d(str(directory))
    assert str(directory / "0.yaml") in str(caught.value)
    assert str(directory / "1.yaml") in str(caught.value)
    (directory / "1.yaml").write_text("}")
    with pytest.raises(InvalidPolicy, match="not valid YAML") as bad:
        load_registries_d(directory)
    assert bad.value.source == str(directory / "1.yaml")
    (directory / "1.yaml").unlink()
    (directory / "2.yaml").mkdir()  # a directory named like a file cannot be read
    with pytest.raises(InvalidPolicy, match="cannot be read"):
        load_registries_d(directory)


def test_registries_d_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidPolicy, match="cannot be read"):
        load_registries_d(tmp_path / "file")


def test_registries_d_defaults(places: tuple[dict[str, str], Path]) -> None:
    env, system = places
    home = Path(env["HOME"])
    # neither exists: nothing configured, as containers/image
    assert registries_d_path(env) == system / "registries.d"
    assert load_registries_d(env=env).docker == ()
    (system / "registries.d").mkdir(parents=True)
    (system / "registries.d" / "s.yaml").write_text("docker: {system.io: {}}")
    assert load_registries_d(env=env).docker == (("system.io", Section()),)
    user = home / ".config/containers/registries.d"
    user.mkdir(parents=True)
    (user / "u.yaml").write_text("docker: {user.io: {}}")
    assert registries_d_path(env) == user
    assert load_registries_d(env=env).docker == (("user.io", Section()),)
