"""Which child of an index runs on a platform: containerd's matcher (``platforms.Only``).

A platform is first normalised (``aarch64`` is ``arm64``, ``arm64/v8`` is ``arm64``, ``arm``
alone is ``arm/v7``, ``x86_64`` is ``amd64``), then widened into an ordered vector of platforms
that can also run there: ``arm/v7`` also runs ``arm/v6`` and ``arm/v5``; ``arm64`` also runs
``arm/v8`` down to ``arm/v5``; ``arm64/v9.x`` runs ``v9.{x-1..0}`` and ``v8.{x+5..0}``;
``amd64/vN`` runs ``amd64/v{N-1..1}`` and ``386``. The first vector entry that some child
matches exactly (after the child's own normalisation) wins; among children matching the same
entry, the index's order decides. Attestation manifests (``unknown/unknown``) never match.
"""

from __future__ import annotations

from .errors import PlatformNotFound
from .manifests import Descriptor, Manifest, Platform

__all__ = ["normalize", "platform_vector", "select_platform"]

Key = tuple[str, str, str]  # (os, architecture, variant), normalised; "" for no variant


def normalize(platform: Platform) -> Key:
    """``platform`` in containerd's canonical form (its ``Normalize``)."""
    os = platform.os.lower()
    os = "darwin" if os == "macos" else os
    arch, variant = platform.architecture.lower(), (platform.variant or "").lower()
    if arch == "i386":
        arch, variant = "386", ""
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch = "amd64"
        variant = "" if variant == "v1" else variant
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
    elif arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    elif arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return os, arch, variant


def _number(text: str) -> int | None:
    text = text.removeprefix("v")
    return int(text) if text.isdigit() else None


def platform_vector(wanted: Key) -> list[Key]:
    """The platforms ``wanted`` also runs, best first (containerd's ``platformVector``)."""
    os, arch, variant = wanted
    vector = [wanted]
    if arch == "amd64":
        level = _number(variant)
        if level is not None and level > 1:
            vector += [(os, arch, f"v{n}" if n > 1 else "") for n in range(level - 1, 0, -1)]
        vector.append((os, "386", ""))
    elif arch == "arm":
        level = _number(variant)
        if level is not None and level > 5:
            vector += [(os, arch, f"v{n}") for n in range(level - 1, 4, -1)]
    elif arch == "arm64":
        variant = variant or "v8"
        major_text, dot, minor_text = variant.partition(".")
        major = _number(major_text)
        if major is not None and major >= 8:
            minor = int(minor_text) if dot and minor_text.isdigit() and len(variant) == 4 else 0
            if major == 9:
                vector += [(os, arch, f"v9.{n}" if n else "v9") for n in range(minor - 1, -1, -1)]
                major, minor = 8, min(minor + 5, 9)  # v9.0 forked from v8.5
                vector.append((os, arch, f"v8.{minor}"))
            vector += [
                (os, arch, f"v{major}.{n}" if n else ("" if major == 8 else f"v{major}"))
                for n in range(minor - 1, -1, -1)
            ]
        if variant.startswith(("v8.", "v9.")):
            variant = "v8"  # every arm64 runs 32-bit arm up to v8
        vector += platform_vector((os, "arm", variant))
    return vector


def select_platform(index: Manifest, wanted: Platform, repository: str) -> Descriptor:
    """The child of ``index`` that runs on ``wanted``, as containerd's ``platforms.Only`` picks.

    Raises:
        PlatformNotFound: no child runs there; the message lists what the index has.
    """
    children = [(normalize(c.platform), c) for c in index.manifests if c.platform is not None]
    for key in platform_vector(normalize(wanted)):
        for child_key, child in children:
            if child_key == key:
                return child
    available = [str(c.platform) for c in index.manifests if c.platform]
    raise PlatformNotFound(repository, str(wanted), available)
