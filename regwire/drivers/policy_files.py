"""Reading containers-policy.json and registries.d from where skopeo and podman read them.

The rules are pure (`regwire.sansio.policy`, `regwire.sansio.registries_d`); this module reads
the files. The places are containers/image's defaults: ``$HOME/.config/containers/policy.json``
if it exists, else ``/etc/containers/policy.json`` (no policy at all is an error: containers/image
refuses to guess one, and so do we); ``$HOME/.config/containers/registries.d`` if it exists, else
``/etc/containers/registries.d`` (a missing directory configures nothing). The key files a policy
names are read here too, so that the policy handed to the signature checks holds bytes only and
a missing key is reported when the policy is loaded, not halfway through a copy. These functions
block: async clients call them off the event loop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..sansio.errors import InvalidPolicy
from ..sansio.policy import KeySource, Policy
from ..sansio.registries_d import RegistriesD

__all__ = ["load_policy", "load_registries_d", "policy_path", "registries_d_path"]

USER_POLICY = Path(".config/containers/policy.json")  # under $HOME
SYSTEM_POLICY = Path("/etc/containers/policy.json")
USER_REGISTRIES_D = Path(".config/containers/registries.d")  # under $HOME
SYSTEM_REGISTRIES_D = Path("/etc/containers/registries.d")


def _home(env: Mapping[str, str] | None) -> Path:
    env = os.environ if env is None else env
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def policy_path(env: Mapping[str, str] | None = None) -> Path:
    """The policy skopeo would use: the user's if it exists, else the system's.

    Raises:
        InvalidPolicy: neither exists; the message names both places.
    """
    user = _home(env) / USER_POLICY
    if user.exists():
        return user
    if SYSTEM_POLICY.exists():
        return SYSTEM_POLICY
    raise InvalidPolicy(
        str(user),
        f"no policy.json file found at {user} or {SYSTEM_POLICY}; write one, or name one "
        "with --policy",
    )


def registries_d_path(env: Mapping[str, str] | None = None) -> Path:
    """The registries.d directory skopeo would use: the user's if it exists, else the system's."""
    user = _home(env) / USER_REGISTRIES_D
    return user if user.exists() else SYSTEM_REGISTRIES_D


def load_policy(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Policy:
    """The policy in ``path`` (by default, `policy_path`'s), with every key file it names read,
    so that each ``sigstoreSigned`` key (and Rekor key, Fulcio or PKI certificate) holds its
    bytes. ``signedBy`` keyrings are not read: regwire refuses those requirements anyway.

    Raises:
        InvalidPolicy: the policy or a key file it names cannot be read, or the policy is not
            valid; the message names the file.
    """
    file = policy_path(env) if path is None else Path(path)
    source = str(file)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise InvalidPolicy(source, "no such file") from None
    except OSError as exc:
        raise InvalidPolicy(source, f"cannot be read: {exc.strerror or exc}") from None

    def read_key(key: KeySource) -> bytes:
        assert key.path is not None  # with_key_data asks only for the sources with a path
        try:
            return Path(key.path).read_bytes()
        except OSError as exc:
            raise InvalidPolicy(
                source, f"the key file {key.path} it names cannot be read: {exc.strerror or exc}"
            ) from None

    return Policy.parse(data, source).with_key_data(read_key)


def load_registries_d(
    directory: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> RegistriesD:
    """The ``*.yaml`` files of ``directory`` (by default, `registries_d_path`'s), merged in
    name order; nothing configured if the directory does not exist, as in containers/image.

    Raises:
        InvalidPolicy: the directory or a file cannot be read, a file is not valid, or two
            files configure the same scope; the message names the file(s).
    """
    folder = registries_d_path(env) if directory is None else Path(directory)
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".yaml"))
    except FileNotFoundError:
        return RegistriesD()
    except OSError as exc:
        raise InvalidPolicy(str(folder), f"cannot be read: {exc.strerror or exc}") from None
    documents: list[tuple[str, bytes]] = []
    for name in names:
        file = folder / name
        try:
            documents.append((str(file), file.read_bytes()))
        except FileNotFoundError:
            continue  # removed since the listing: as containers/image, read what is there
        except OSError as exc:
            raise InvalidPolicy(str(file), f"cannot be read: {exc.strerror or exc}") from None
    return RegistriesD.parse(documents)
