"""``regwire generate-key``: the files cosign writes (modes, names, format), the passphrase from
each place cosign looks, and never a lost key (existing files refused without --force)."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from regwire.cli import main
from regwire.keys import load_private_key, load_public_key
from regwire.sansio.errors import InvalidKey


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal unless a test says so


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Stdin a terminal where the user types ``answers`` at successive getpass prompts."""
    prompts: list[str] = []
    replies: Iterator[str] = iter(answers)

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(sys, "stdin", Terminal(""))
    monkeypatch.setattr("getpass.getpass", getpass)
    return prompts


def assert_pair(prefix: Path, passphrase: bytes) -> str:
    """The pair at ``prefix`` is a cosign key pair under ``passphrase``; its key name."""
    private_pem = prefix.with_name(prefix.name + ".key").read_bytes()
    public_pem = prefix.with_name(prefix.name + ".pub").read_bytes()
    assert private_pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    public = load_public_key(public_pem)
    signer = load_private_key(private_pem, passphrase)
    assert signer.public_key.name == public.name
    assert public.verifies(b"x", signer.sign(b"x"))
    return public.name


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_default_files_are_cosign_key_and_pub_with_cosign_s_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "from the environment")
    assert main(["generate-key"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["cosign.key", "cosign.pub"]
    assert mode(tmp_path / "cosign.key") == 0o600
    assert mode(tmp_path / "cosign.pub") == 0o644
    assert_pair(tmp_path / "cosign", b"from the environment")
    err = capsys.readouterr().err
    assert "Private key written to cosign.key" in err
    assert "Public key written to cosign.pub" in err


def test_an_empty_cosign_password_is_an_empty_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    assert main(["generate-key"]) == 0
    assert_pair(tmp_path / "cosign", b"")


def test_the_passphrase_file_s_first_line_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "not this")
    (tmp_path / "pass").write_bytes(b"first line \n second line\n")
    assert main(["generate-key", "--passphrase-file", "pass", "--output-prefix", "sub"]) == 0
    assert_pair(tmp_path / "sub", b"first line ")
    with pytest.raises(InvalidKey, match="wrong passphrase"):
        assert_pair(tmp_path / "sub", b"not this")


def test_prefixes_name_the_files_and_cosign_s_flag_name_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    (tmp_path / "keys").mkdir()
    assert main(["generate-key", "--output-prefix", "keys/release"]) == 0
    assert main(["generate-key", "--output-key-prefix", "keys/nightly"]) == 0
    assert sorted(os.listdir(tmp_path / "keys")) == [
        "nightly.key",
        "nightly.pub",
        "release.key",
        "release.pub",
    ]
    assert assert_pair(tmp_path / "keys/release", b"pw") != assert_pair(
        tmp_path / "keys/nightly", b"pw"
    )


def test_json_names_the_files_and_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    assert main(["generate-key", "--json", "--output-prefix", "k"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer == {
        "private_key": "k.key",
        "public_key": "k.pub",
        "key": assert_pair(tmp_path / "k", b"pw"),
    }


def test_a_terminal_is_asked_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = typed(monkeypatch, "typed secret", "typed secret")
    assert main(["generate-key"]) == 0
    assert len(prompts) == 2
    assert "again" in prompts[1]
    assert_pair(tmp_path / "cosign", b"typed secret")


def test_two_different_answers_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed(monkeypatch, "one", "two")
    assert main(["generate-key"]) == 2
    assert "differ" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_no_passphrase_anywhere_is_exit_2_saying_how(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate-key"]) == 2
    err = capsys.readouterr().err
    assert "--passphrase-file" in err and "COSIGN_PASSWORD" in err
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_an_unreadable_passphrase_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate-key", "--passphrase-file", "missing"]) == 2
    assert "cannot read the passphrase file missing" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("existing", ["cosign.key", "cosign.pub"])
def test_existing_files_are_never_overwritten_without_force(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    existing: str,
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    (tmp_path / existing).write_bytes(b"precious")
    assert main(["generate-key"]) == 2
    err = capsys.readouterr().err
    assert f"{existing} already exists" in err and "--force" in err
    assert os.listdir(tmp_path) == [existing]
    assert (tmp_path / existing).read_bytes() == b"precious"


def test_a_link_in_the_way_is_refused_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    (tmp_path / "cosign.key").symlink_to(tmp_path / "elsewhere")
    assert main(["generate-key"]) == 2
    assert not (tmp_path / "elsewhere").exists()


def test_force_replaces_both_files_with_the_key_s_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    (tmp_path / "cosign.key").write_bytes(b"old")
    (tmp_path / "cosign.key").chmod(0o644)
    (tmp_path / "cosign.pub").write_bytes(b"old")
    (tmp_path / "elsewhere").write_bytes(b"untouched")
    (tmp_path / "cosign.pub").unlink()
    (tmp_path / "cosign.pub").symlink_to(tmp_path / "elsewhere")
    assert main(["generate-key", "--force"]) == 0
    assert mode(tmp_path / "cosign.key") == 0o600
    assert not (tmp_path / "cosign.pub").is_symlink()  # replaced, not written through
    assert (tmp_path / "elsewhere").read_bytes() == b"untouched"
    assert_pair(tmp_path / "cosign", b"pw")
    assert sorted(os.listdir(tmp_path)) == ["cosign.key", "cosign.pub", "elsewhere"]


def test_without_the_sign_extra_the_command_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    monkeypatch.setitem(sys.modules, "cryptography", None)
    assert main(["generate-key"]) == 2
    assert "pip install 'regwire[sign]'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_missing_extra_is_said_before_any_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = typed(monkeypatch, "pw", "pw")
    monkeypatch.setitem(sys.modules, "nacl", None)
    assert main(["generate-key"]) == 2
    assert "the 'pynacl' package" in capsys.readouterr().err
    assert prompts == []


def test_generate_key_is_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "generate-key" in capsys.readouterr().out
