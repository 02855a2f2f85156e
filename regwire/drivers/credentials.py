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
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..sansio.auth import Credentials
from ..sansio.errors import AuthenticationError

__all__ = ["auth_files", "lookup_credentials", "run_helper"]

_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")


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


def _key(entry: str) -> str:
    """An ``auths`` key (``https://host/v1/``, ``host``, ``host/path``) as a bare host."""
    for prefix in ("https://", "http://"):
        if entry.startswith(prefix):
            entry = entry[len(prefix) :]
    host = entry.split("/")[0]
    return "docker.io" if host in _HUB_KEYS or f"https://{host}/v1/" in _HUB_KEYS else host


def run_helper(helper: str, registry: str, timeout: float = 30.0) -> Credentials | None:
    """Run ``docker-credential-HELPER get`` for ``registry``; None if it knows nothing."""
    server = "https://index.docker.io/v1/" if registry == "docker.io" else registry
    try:
        done = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=server.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthenticationError(registry, f"credential helper {helper!r} failed: {exc}") from exc
    if done.returncode != 0:
        if b"credentials not found" in done.stdout + done.stderr:
            return None
        message = (done.stderr or done.stdout).decode(errors="replace").strip()[:200]
        raise AuthenticationError(registry, f"credential helper {helper!r} failed: {message}")
    try:
        answer = json.loads(done.stdout)
        username, secret = answer.get("Username", ""), answer.get("Secret", "")
    except (ValueError, AttributeError) as exc:
        raise AuthenticationError(
            registry, f"credential helper {helper!r} answered garbage"
        ) from exc
    if username == "<token>":
        return Credentials(identity_token=secret)
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


def lookup_credentials(
    registry: str, env: Mapping[str, str] | None = None, helper_timeout: float = 30.0
) -> Credentials | None:
    """The credentials users have stored for ``registry`` (a host[:port], ``docker.io`` for Hub)."""
    wanted = _key(registry)
    for path in auth_files(env):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(document, dict):
            continue
        helpers = document.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if _key(key) == wanted and isinstance(helper, str):
                    return run_helper(helper, wanted, helper_timeout)
        auths = document.get("auths") or {}
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if _key(key) == wanted:
                    found = _from_entry(entry)
                    if found is not None:
                        return found
        store = document.get("credsStore")
        if isinstance(store, str) and store:
            found = run_helper(store, wanted, helper_timeout)
            if found is not None:
                return found
    return None
