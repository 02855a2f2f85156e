"""``regwire login`` and ``logout`` (issue 31) against the real ``docker-registry``.

Every test runs with HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE and XDG_RUNTIME_DIR inside its own
``tmp_path``, never the real home; credential helpers are shell scripts the test writes and puts
first on PATH, recording what they were asked on their stdin.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regwire.cli import main
from regwire.drivers.credentials import lookup_credentials
from regwire.sansio.auth import Credentials
from regwire.sansio.errors import AuthenticationError
from regwire.sansio.login import check_login
from regwire.sansio.registry import Registry
from tests.harness.distribution import (
    PASSWORD,
    USER,
    RealRegistry,
    image_manifest,
    write_layout,
)
from tests.harness.drivers import DRIVERS, run_with

REPOSITORY = "team/app"


def _serve(root: Path, mode: Any) -> RealRegistry:
    real = RealRegistry(root / "server", mode)
    layout = write_layout(root / "layout", {"v1": image_manifest(root / "layout", seed=mode)})
    real.push(layout, f"{REPOSITORY}:v1", tag="v1")
    return real


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRegistry]:
    real = _serve(tmp_path_factory.mktemp("login-basic"), "basic")
    try:
        yield real
    finally:
        real.close()


@pytest.fixture(scope="module")
def bearer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRegistry]:
    real = _serve(tmp_path_factory.mktemp("login-token"), "token")
    try:
        yield real
    finally:
        real.close()


class Home:
    """The credential places of one test, all under its tmp_path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.docker = root / "home" / ".docker" / "config.json"
        self.podman = root / "registry-auth.json"  # REGISTRY_AUTH_FILE, read first
        self.runtime = root / "run" / "containers" / "auth.json"
        self.bin = root / "bin"
        self.calls = root / "helper-calls"

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.root / "home"),
            "DOCKER_CONFIG": str(self.docker.parent),
            "REGISTRY_AUTH_FILE": str(self.podman),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
        }

    def helper(self, name: str = "fake") -> None:
        """A credential helper that keeps one account in a file and logs each call's stdin."""
        self.bin.mkdir(exist_ok=True)
        self.calls.mkdir(exist_ok=True)
        script = self.bin / f"docker-credential-{name}"
        script.write_text(
            "#!/bin/sh\n"
            f'calls="{self.calls}"\n'
            'n=$(ls "$calls" | wc -l)\n'
            'cat > "$calls/$(printf %03d "$n").$1"\n'
            'case "$1" in\n'
            '  store) cp "$calls/$(printf %03d "$n").$1" "$calls/../helper-store" ;;\n'
            '  get) if [ -f "$calls/../helper-store" ]; then cat "$calls/../helper-store";\n'
            "       else echo 'credentials not found in native keychain'; exit 1; fi ;;\n"
            '  erase) if [ -f "$calls/../helper-store" ]; then rm "$calls/../helper-store";\n'
            "         else echo 'credentials not found in native keychain'; exit 1; fi ;;\n"
            "esac\n"
        )
        script.chmod(0o755)

    def helper_calls(self, action: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.calls.glob(f"*.{action}"))]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    places = Home(tmp_path)
    for name, value in places.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{places.bin}{os.pathsep}{os.environ['PATH']}")
    return places


def _login(
    monkeypatch: pytest.MonkeyPatch, registry: str, password: str = PASSWORD, *extra: str
) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["login", registry, "-u", USER, "--password-stdin", "--tls-verify=false", *extra])


def _auth(user: str = USER, password: str = PASSWORD) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tags(registry: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["tags", f"{registry}/{REPOSITORY}", "--tls-verify=false"])
    return code, capsys.readouterr().out


# -- login writes Docker's config.json ------------------------------------------------------


def test_login_writes_config_json_that_the_next_command_reads(
    basic: RealRegistry,
    home: Home,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home.docker.parent.mkdir(parents=True)
    others = {"auths": {"other.example": {"auth": _auth("bob", "x")}}, "psFormat": "table"}
    home.docker.write_text(json.dumps(others))
    home.docker.chmod(0o644)
    assert _tags(basic.authority, capsys)[0] == 4  # no credentials yet: the registry refuses

    assert _login(monkeypatch, basic.authority) == 0
    assert "Login Succeeded" in capsys.readouterr().out

    document = json.loads(home.docker.read_text())
    assert document["auths"][basic.authority] == {"auth": _auth()}
    assert document["auths"]["other.example"] == others["auths"]["other.example"]  # type: ignore[index]
    assert document["psFormat"] == "table"
    assert _mode(home.docker) == 0o600
    assert not home.podman.exists() and not home.runtime.exists()
    assert [p.name for p in home.docker.parent.iterdir()] == ["config.json"]  # no temporary left
    code, out = _tags(basic.authority, capsys)  # no --creds: what login saved is used
    assert code == 0 and out.split() == ["v1"]


def test_login_through_a_symlink_updates_its_target_and_keeps_the_link(
    basic: RealRegistry, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotfiles = home.root / "dotfiles" / "docker-config.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text(json.dumps({"auths": {"other.example": {"auth": _auth("bob", "x")}}}))
    home.docker.parent.mkdir(parents=True)
    home.docker.symlink_to(dotfiles)

    assert _login(monkeypatch, basic.authority) == 0

    assert home.docker.is_symlink() and home.docker.resolve() == dotfiles
    document = json.loads(dotfiles.read_text())
    assert document["auths"][basic.authority] == {"auth": _auth()}
    assert "other.example" in document["auths"]
    assert _mode(dotfiles) == 0o600


def test_a_wrong_password_writes_nothing_and_exits_4(
    basic: RealRegistry,
    home: Home,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _login(monkeypatch, basic.authority, "not-the-password") == 4
    assert "refused the credentials" in capsys.readouterr().err
    assert not home.docker.exists() and not home.podman.exists()

    home.docker.parent.mkdir(parents=True)
    before = json.dumps({"auths": {basic.authority: {"auth": _auth(USER, "old")}}})
    home.docker.write_text(before)
    assert _login(monkeypatch, basic.authority, "not-the-password") == 4
    assert home.docker.read_text() == before


def test_a_bearer_registry_needs_a_token_for_the_account_not_an_anonymous_one(
    bearer: RealRegistry,
    home: Home,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The token server hands anonymous tokens to anyone: only one for these credentials counts.
    assert bearer.token_server is not None
    assert _login(monkeypatch, bearer.authority, "not-the-password") == 4
    assert not home.docker.exists()
    asked = bearer.token_server.requests[-1]
    assert asked.header("Authorization") == "Basic " + _auth(USER, "not-the-password")

    assert _login(monkeypatch, bearer.authority) == 0
    assert json.loads(home.docker.read_text())["auths"][bearer.authority] == {"auth": _auth()}
    code, out = _tags(bearer.authority, capsys)
    assert code == 0 and out.split() == ["v1"]


def test_login_updates_the_file_read_first_where_it_already_has_an_entry(
    basic: RealRegistry, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stale entry in REGISTRY_AUTH_FILE would win over a fresh one in config.json.
    stale = {"auths": {basic.authority: {"auth": _auth(USER, "old"), "identitytoken": "stale"}}}
    home.podman.write_text(json.dumps(stale))

    assert _login(monkeypatch, basic.authority) == 0

    assert json.loads(home.podman.read_text())["auths"] == {basic.authority: {"auth": _auth()}}
    assert not home.docker.exists()
    assert lookup_credentials(basic.authority) == Credentials(USER, PASSWORD)


def test_authfile_writes_podmans_auth_json_alone(
    basic: RealRegistry, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    authfile = home.root / "ci" / "auth.json"
    assert _login(monkeypatch, basic.authority, PASSWORD, "--authfile", str(authfile)) == 0
    assert json.loads(authfile.read_text()) == {"auths": {basic.authority: {"auth": _auth()}}}
    assert _mode(authfile) == 0o600
    assert not home.docker.exists() and not home.podman.exists()


# -- credential helpers -------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["credsStore", "credHelpers"])
def test_a_helper_gets_store_then_erase(
    config: str,
    basic: RealRegistry,
    home: Home,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home.helper()
    home.docker.parent.mkdir(parents=True)
    named: dict[str, Any] = (
        {"credsStore": "fake"}
        if config == "credsStore"
        else {"credHelpers": {basic.authority: "fake"}}
    )
    home.docker.write_text(json.dumps(named))

    assert _login(monkeypatch, basic.authority) == 0

    stored = [json.loads(call) for call in home.helper_calls("store")]
    assert stored == [{"ServerURL": basic.authority, "Username": USER, "Secret": PASSWORD}]
    assert json.loads(home.docker.read_text()) == named  # the secret went to the helper alone
    code, out = _tags(basic.authority, capsys)
    assert code == 0 and out.split() == ["v1"]

    assert main(["logout", basic.authority]) == 0
    assert home.helper_calls("erase") == [basic.authority.encode()]
    assert lookup_credentials(basic.authority) is None


# -- logout ------------------------------------------------------------------------------------


def test_logout_erases_the_registry_from_every_file_and_helper(
    basic: RealRegistry, home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    home.helper()
    (home.root / "helper-store").write_text(
        json.dumps({"ServerURL": basic.authority, "Username": USER, "Secret": PASSWORD})
    )
    other = {"auth": _auth("bob", "x")}
    home.podman.write_text(json.dumps({"auths": {basic.authority: {"auth": _auth()}}}))
    home.runtime.parent.mkdir(parents=True)
    home.runtime.write_text(
        json.dumps({"auths": {basic.authority: {"auth": _auth()}, "other.example": other}})
    )
    home.docker.parent.mkdir(parents=True)
    home.docker.write_text(
        json.dumps(
            {
                "auths": {f"http://{basic.authority}/v1/": {"auth": _auth()}},
                "credsStore": "fake",
            }
        )
    )

    assert main(["logout", basic.authority]) == 0

    assert json.loads(home.podman.read_text()) == {"auths": {}}
    assert json.loads(home.runtime.read_text()) == {"auths": {"other.example": other}}
    assert json.loads(home.docker.read_text()) == {"auths": {}, "credsStore": "fake"}
    assert home.helper_calls("erase") == [basic.authority.encode()]
    assert not (home.root / "helper-store").exists()
    assert lookup_credentials(basic.authority) is None
    out = capsys.readouterr().out
    for place in (home.podman, home.runtime, home.docker, "docker-credential-fake"):
        assert str(place) in out

    assert main(["logout", basic.authority]) == 0  # nothing left: said, not an error
    assert "not logged in" in capsys.readouterr().err


def test_logout_with_authfile_touches_that_file_alone(basic: RealRegistry, home: Home) -> None:
    authfile = home.root / "auth.json"
    entry = json.dumps({"auths": {basic.authority: {"auth": _auth()}}})
    authfile.write_text(entry)
    home.podman.write_text(entry)
    assert main(["logout", basic.authority, "--authfile", str(authfile)]) == 0
    assert json.loads(authfile.read_text()) == {"auths": {}}
    assert home.podman.read_text() == entry


# -- where the password comes from -------------------------------------------------------------


def test_dash_p_works_and_warns_on_stderr(
    basic: RealRegistry, home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["login", basic.authority, "-u", USER, "-p", PASSWORD, "--tls-verify=false"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "--password-stdin" in captured.err
    assert PASSWORD not in captured.err + captured.out
    assert json.loads(home.docker.read_text())["auths"][basic.authority] == {"auth": _auth()}


def test_password_stdin_reads_one_line(
    basic: RealRegistry, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{PASSWORD}\r\nnext line\n"))
    argv = ["login", basic.authority, "-u", USER, "--password-stdin", "--tls-verify=false"]
    assert main(argv) == 0
    assert json.loads(home.docker.read_text())["auths"][basic.authority] == {"auth": _auth()}


def test_no_password_and_no_terminal_is_a_usage_error(
    basic: RealRegistry, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["login", basic.authority, "-u", USER, "--tls-verify=false"]) == 2
    assert not home.docker.exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_password_is_prompted_for(
    basic: RealRegistry, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    prompts: list[str] = []
    monkeypatch.setattr(sys, "stdin", _Terminal())

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr(getpass, "getpass", ask)
    assert main(["login", basic.authority, "-u", USER, "--tls-verify=false"]) == 0
    assert prompts == ["Password: "]
    assert json.loads(home.docker.read_text())["auths"][basic.authority] == {"auth": _auth()}


# -- the check, through every driver -------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("password", [PASSWORD, "not-the-password"])
@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_the_check_through_every_driver(
    driver: str, password: str, mode: str, request: pytest.FixtureRequest
) -> None:
    real: RealRegistry = request.getfixturevalue(mode)
    registry = Registry(real.authority, insecure=True, credentials=Credentials(USER, password))

    async def scenario(client: Any) -> None:
        await client.run(check_login(registry.session))

    if password == PASSWORD:
        run_with(driver, scenario)
    else:
        with pytest.raises(AuthenticationError) as raised:
            run_with(driver, scenario)
        assert raised.value.status == 401
        assert password not in str(raised.value)


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_clients_log_in_and_out(
    driver: str, basic: RealRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``client.login``/``client.logout`` in every client: checked first, saved where the
    next client reads, nothing saved for a wrong password."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    auth = tmp_path / "auth.json"
    host = basic.authority

    async def wrong(client: Any) -> Any:
        return await client.login(host, Credentials(USER, "not-it"), auth_file=str(auth))

    with pytest.raises(AuthenticationError):
        run_with(driver, wrong, insecure_registries=[host])
    assert not auth.exists()

    async def right(client: Any) -> Any:
        return await client.login(host, Credentials(USER, PASSWORD), auth_file=str(auth))

    assert run_with(driver, right, insecure_registries=[host]) == str(auth)
    saved = lookup_credentials(host, env={"REGISTRY_AUTH_FILE": str(auth), "HOME": "/nonexistent"})
    assert saved == Credentials(USER, PASSWORD)

    async def out(client: Any) -> Any:
        return await client.logout(host, auth_file=str(auth))

    assert run_with(driver, out) == [str(auth)]
    assert lookup_credentials(host, env={"REGISTRY_AUTH_FILE": str(auth), "HOME": "/x"}) is None
