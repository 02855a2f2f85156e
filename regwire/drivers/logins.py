"""Saving and erasing an account where regwire (and docker, podman, skopeo) will read it.

``regwire login`` writes where the next lookup (`regwire.drivers.credentials`) reads first: the
place that already answers for the registry, if one does, since a stale entry in a file read
earlier would otherwise still win; else Docker's ``config.json``, or the helper it names for the
registry (``credHelpers``) or for every registry (``credsStore``), as ``docker login`` does;
with ``--authfile``, that file alone, as podman does. ``logout`` erases the registry from every
file and helper it is found in, so that no older entry comes back into use.

Files are written as docker writes them: the whole document through a temporary file in the
same directory, mode 0600, renamed over the old one, so that a crash leaves the old file or the
new one, never half of either, and the secret is never readable by others, not even for a
moment. A symbolic link (a config kept in a dotfiles repository) is resolved first, so that the
link stays and its target is updated. Every other entry and key of the document stays as it was.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..sansio.auth import Credentials
from ..sansio.errors import AuthenticationError
from .credentials import (
    auth_files,
    call_helper,
    find_entry,
    helper_server,
    key_of,
    read_document,
)

__all__ = ["erase_login", "store_login", "write_document"]


def write_document(path: Path, document: Mapping[str, Any]) -> None:
    """Replace the JSON file at ``path`` (a link's target) with ``document``, mode 0600."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)  # mkstemp's mode already, whatever the umask: said, not assumed
        with os.fdopen(fd, "w") as file:
            json.dump(document, file, indent="\t")
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _load(path: Path, registry: str) -> dict[str, Any]:
    """The document at ``path`` to be changed: empty if there is none; refused if unreadable,
    since writing over it would lose whatever the user keeps there."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise AuthenticationError(
            str(path),
            f"the credential file is not a JSON object, so the account for {registry} was not "
            "written into it; fix or move the file, then log in again",
        )
    return document


def _entry_keys(document: Mapping[str, Any], section: str, wanted: str) -> list[str]:
    table = document.get(section)
    if not isinstance(table, dict):
        return []
    return [key for key in table if key_of(key) == wanted]


def _helper_for(document: Mapping[str, Any], wanted: str) -> str | None:
    """The helper a document names for the registry: its ``credHelpers`` entry, else its
    ``credsStore`` (docker's order when it saves)."""
    helpers = document.get("credHelpers")
    for key in _entry_keys(document, "credHelpers", wanted):
        assert isinstance(helpers, dict)
        if isinstance(helpers[key], str) and helpers[key]:
            return str(helpers[key])
    store = document.get("credsStore")
    return store if isinstance(store, str) and store else None


def _write_entry(path: Path, wanted: str, credentials: Credentials) -> None:
    document = _load(path, wanted)
    auths = document.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    keys = [key for key in auths if key_of(key) == wanted]
    # Docker keys Hub as its v1 URL; podman as docker.io. An entry already there keeps its key.
    default = helper_server(wanted) if path.name == "config.json" else wanted
    key = keys[0] if keys else default
    raw = f"{credentials.username}:{credentials.password}".encode()
    # The entry is replaced whole: a stale identitytoken left beside it would still be used.
    others = {k: v for k, v in auths.items() if k not in keys}
    document["auths"] = {**others, key: {"auth": base64.b64encode(raw).decode("ascii")}}
    write_document(path, document)


def _store_in_helper(helper: str, wanted: str, credentials: Credentials, timeout: float) -> None:
    payload = {
        "ServerURL": helper_server(wanted),
        "Username": credentials.username,
        "Secret": credentials.password,
    }
    status, _ = call_helper(helper, wanted, "store", json.dumps(payload).encode(), timeout)
    if status != 0:
        program = f"docker-credential-{helper}"
        raise AuthenticationError(
            wanted,
            f"credential helper {program} could not store the credentials "
            f"(exit status {status}); check that it works, e.g. with '{program} list'",
        )


def store_login(
    registry: str,
    credentials: Credentials,
    *,
    auth_file: str | None = None,
    env: Mapping[str, str] | None = None,
    helper_timeout: float = 30.0,
) -> str:
    """Save ``credentials`` for ``registry`` where the next lookup reads them first (module
    docstring); returns the place written (a file, or ``docker-credential-NAME``).

    Raises:
        AuthenticationError: a helper failed, or the file to change is not a JSON object.
        OSError: the file could not be written.
    """
    wanted = key_of(registry)
    if auth_file is not None:
        path = Path(auth_file)
        _write_entry(path, wanted, credentials)
        return str(path)
    found = find_entry(wanted, env, helper_timeout)
    if found is not None and found.helper is None:
        _write_entry(found.path, wanted, credentials)
        return str(found.path)
    helper = found.helper if found is not None else None
    if helper is None:
        docker = auth_files(env)[-1]  # Docker's config.json, read last: docker login's place
        helper = _helper_for(_load(docker, wanted), wanted)
        if helper is None:
            _write_entry(docker, wanted, credentials)
            return str(docker)
    _store_in_helper(helper, wanted, credentials, helper_timeout)
    return f"docker-credential-{helper}"


def _erase_in_helper(helper: str, wanted: str, timeout: float) -> bool:
    status, output = call_helper(helper, wanted, "erase", helper_server(wanted).encode(), timeout)
    if status == 0:
        return True
    if b"credentials not found" in output:
        return False
    program = f"docker-credential-{helper}"
    raise AuthenticationError(
        wanted,
        f"credential helper {program} could not erase the credentials (exit status {status}); "
        f"run '{program} erase' by hand to see why",
    )


def erase_login(
    registry: str,
    *,
    auth_file: str | None = None,
    env: Mapping[str, str] | None = None,
    helper_timeout: float = 30.0,
) -> list[str]:
    """Erase ``registry`` from every credential file (only ``auth_file``, if given) and every
    helper they name for it; the places it was found in, in lookup order.

    Raises:
        AuthenticationError: a helper failed, or a file to change is not a JSON object.
        OSError: a file could not be written.
    """
    wanted = key_of(registry)
    paths = [Path(auth_file)] if auth_file is not None else auth_files(env)
    erased: list[str] = []
    asked: set[str] = set()
    for path in paths:
        document = read_document(path)
        if document is None:
            continue  # missing or unreadable: the lookup skips it too, so it holds nothing used
        helpers = [
            helper
            for key in _entry_keys(document, "credHelpers", wanted)
            if isinstance(helper := document["credHelpers"][key], str) and helper
        ]
        store = document.get("credsStore")
        if isinstance(store, str) and store:
            helpers.append(store)
        for helper in helpers:
            if helper not in asked:
                asked.add(helper)
                if _erase_in_helper(helper, wanted, helper_timeout):
                    erased.append(f"docker-credential-{helper}")
        keys = _entry_keys(document, "auths", wanted)
        if keys:
            document["auths"] = {k: v for k, v in document["auths"].items() if k not in keys}
            write_document(path, document)
            erased.append(str(path))
    return erased
