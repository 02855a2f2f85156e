"""Credentials from where users already keep them: Docker's config.json and containers' auth.json.

This is the drivers' side of the line: it reads files and the environment and runs credential
helpers, which the core never does. Lookup order is podman's and skopeo's: ``REGISTRY_AUTH_FILE``,
``$XDG_RUNTIME_DIR/containers/auth.json``, ``~/.config/containers/auth.json``, then Docker's
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``). In each file a registry's
``credHelpers`` entry wins, then an ``auths`` entry, then the file's ``credsStore``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sansio.auth import Credentials
from ..sansio.errors import AuthenticationError
from ..sansio.names import DOCKER_HUB_HOSTS

__all__ = [
    "Found",
    "auth_files",
    "call_helper",
    "find_entry",
    "helper_server",
    "key_of",
    "lookup_credentials",
    "read_document",
    "run_helper",
]


def auth_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """The credential files to consult, in order."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME", str(Path.home())))
    files: list[Path] = []
    if env.get("REGISTRY_AUTH_FILE"):
        files.append(Path(env["REGISTRY_AUTH_FILE"]))
    if env.get("XDG_RUNTIME_DIR"):
        files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    files.append(home / ".config" / "containers" / "auth.json")
    files.append(Path(env.get("DOCKER_CONFIG", str(home / ".docker"))) / "config.json")
    return files


def key_of(entry: str) -> str:
    """A config file's key (``https://host/v1/``, ``host``, ``host/path``) as a bare host,
    ``docker.io`` for Docker Hub's names: how keys are compared."""
    for prefix in ("https://", "http://"):
        if entry.startswith(prefix):
            entry = entry[len(prefix) :]
    host = entry.split("/")[0]
    return "docker.io" if host in DOCKER_HUB_HOSTS else host


_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
HELPER_OUTPUT_LIMIT = 64 * 1024  # docker's helpers answer a few hundred bytes


def helper_server(registry: str) -> str:
    """The ``ServerURL`` a credential helper knows ``registry`` by (docker's for Hub)."""
    return "https://index.docker.io/v1/" if registry == "docker.io" else registry


def call_helper(
    helper: str, registry: str, action: str, payload: bytes, timeout: float = 30.0
) -> tuple[int, bytes]:
    """Run ``docker-credential-HELPER ACTION`` with ``payload`` on its stdin: its exit status
    and what it printed (at most 64 KiB).

    ``HELPER`` must be a bare name, looked up on ``PATH`` as docker does: a config file that
    says ``x/../../evil`` must not run a program by relative path. The secret travels on stdin
    only (``store``), never in the argv other users can read, and what a helper prints may be
    the secret itself, so no exception repeats it. A helper that hangs is killed with its
    children after ``timeout`` seconds.
    """
    if not _HELPER_NAME.match(helper):
        raise AuthenticationError(
            registry,
            f"credential helper name {json.dumps(helper)[:80]} is not a bare program name; "
            "fix credHelpers or credsStore in the config file",
        )
    # Imported here: most first calls run no helper, and subprocess is ~2 ms of their import.
    import signal
    import subprocess

    program = f"docker-credential-{helper}"
    try:
        process = subprocess.Popen(
            [program, action],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that a kill reaches its children
        )
    except OSError as exc:
        raise AuthenticationError(
            registry, f"credential helper {program} could not be run: {exc.strerror or exc}"
        ) from None
    expired = threading.Event()

    def kill() -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # a shell script's children hold the pipe
        except OSError:
            process.kill()

    def expire() -> None:
        expired.set()
        kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(payload)
            process.stdin.close()
        except OSError:
            pass  # a helper that exits without reading: its status says why
        output = process.stdout.read(HELPER_OUTPUT_LIMIT + 1)
        process.stdout.close()
    finally:
        timer.cancel()
        if process.poll() is None:
            kill()  # it printed too much, or we are interrupted: do not wait on it
        status = process.wait()
    if expired.is_set():
        raise AuthenticationError(registry, f"credential helper {program} took over {timeout:g} s")
    if len(output) > HELPER_OUTPUT_LIMIT:
        raise AuthenticationError(
            registry, f"credential helper {program} printed over {HELPER_OUTPUT_LIMIT} bytes"
        )
    return status, output


def run_helper(helper: str, registry: str, timeout: float = 30.0) -> Credentials | None:
    """Run ``docker-credential-HELPER get`` for ``registry``; None if it knows nothing."""
    program = f"docker-credential-{helper}"
    status, output = call_helper(helper, registry, "get", helper_server(registry).encode(), timeout)
    if status != 0:
        if b"credentials not found" in output:
            return None
        raise AuthenticationError(
            registry,
            f"credential helper {program} failed (exit status {status}); "
            f"run '{program} get' by hand to see why",
        )
    try:
        answer = json.loads(output)
        username, secret = answer.get("Username", ""), answer.get("Secret", "")
    except (ValueError, AttributeError):
        raise AuthenticationError(
            registry, f"credential helper {program} answered something that is not its JSON"
        ) from None
    if username == "<token>":
        return Credentials(identity_token=str(secret))
    return Credentials(str(username), str(secret))


def _from_entry(entry: Any) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(entry["auth"]).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError):
            return None
        username, _, password = decoded.partition(":")
    identity = entry.get("identitytoken") or None
    registry_token = entry.get("registrytoken") or None
    if not (username or password or identity or registry_token):
        return None
    return Credentials(str(username), str(password), identity, registry_token)


@dataclass(frozen=True, slots=True)
class Found:
    """Where the lookup found a registry's entry: the file, and the helper it names (None for
    an ``auths`` entry in the file itself), with what that place holds."""

    path: Path
    helper: str | None
    credentials: Credentials | None


def read_document(path: Path) -> dict[str, Any] | None:
    """The JSON object a credential file holds, or None if it is missing or unreadable."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def find_entry(
    registry: str, env: Mapping[str, str] | None = None, helper_timeout: float = 30.0
) -> Found | None:
    """The first place, in lookup order, that answers for ``registry`` (module docstring).

    A ``credHelpers`` entry answers even when its helper knows nothing, as docker's does;
    ``login`` writes where this points, so that the next lookup reads what it wrote.
    """
    wanted = key_of(registry)
    for path in auth_files(env):
        document = read_document(path)
        if document is None:
            continue
        helpers = document.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if key_of(key) == wanted and isinstance(helper, str) and helper:
                    return Found(path, helper, run_helper(helper, wanted, helper_timeout))
        auths = document.get("auths") or {}
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if key_of(key) == wanted:
                    found = _from_entry(entry)
                    if found is not None:
                        return Found(path, None, found)
        store = document.get("credsStore")
        if isinstance(store, str) and store:
            found = run_helper(store, wanted, helper_timeout)
            if found is not None:
                return Found(path, store, found)
    return None


def lookup_credentials(
    registry: str, env: Mapping[str, str] | None = None, helper_timeout: float = 30.0
) -> Credentials | None:
    """The credentials users have stored for ``registry`` (a host[:port], ``docker.io`` for Hub)."""
    found = find_entry(registry, env, helper_timeout)
    return None if found is None else found.credentials
