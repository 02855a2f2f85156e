"""Reading registries.conf from where podman and skopeo read it (the files; the rules are in
`regwire.sansio.registries_conf`).

``$CONTAINERS_REGISTRIES_CONF`` alone if set; else ``~/.config/containers/registries.conf`` if
it exists, else ``/etc/containers/registries.conf``; then the drop-ins of
``registries.conf.d/*.conf`` beside them, in name order, each on top of the last.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ..sansio.registries_conf import RegistriesConf

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["load_registries_conf", "registries_conf_files"]


def registries_conf_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """The files to read, in order (drop-ins last)."""
    env = os.environ if env is None else env
    if env.get("CONTAINERS_REGISTRIES_CONF"):
        return [Path(env["CONTAINERS_REGISTRIES_CONF"])]
    home = Path(env.get("HOME", str(Path.home())))
    user = home / ".config" / "containers" / "registries.conf"
    system = Path("/etc/containers/registries.conf")
    files = [user if user.exists() else system]
    for directory in (system.with_suffix(".conf.d"), user.with_suffix(".conf.d")):
        if directory.is_dir():
            files += sorted(directory.glob("*.conf"))
    return files


def load_registries_conf(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> RegistriesConf | None:
    """The configuration in ``path`` (with its drop-ins), or in the usual files; None if none.

    Raises:
        ValueError: a file is not valid TOML or holds a bad setting; the message names it.
    """
    files = [Path(path)] if path is not None else registries_conf_files(env)
    if path is not None:
        dropins = Path(path).with_suffix(".conf.d")
        if dropins.is_dir():
            files += sorted(dropins.glob("*.conf"))
    conf: RegistriesConf | None = None
    for file in files:
        try:
            text = file.read_bytes()
        except FileNotFoundError:
            if path is not None and file == Path(path):
                raise ValueError(f"{file}: no such registries.conf") from None
            continue
        try:
            conf = RegistriesConf.from_dict(tomllib.loads(text.decode()), conf)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{file}: {exc}") from exc
    return conf
