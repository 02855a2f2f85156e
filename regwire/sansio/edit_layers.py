"""Which entries of an image's layers its final filesystem keeps (``flatten``): the OCI
image-spec's rules for applying changesets (``layer.md``), decided from the entries' names.

Theory of operation. Layers apply bottom to top; an upper layer's entry replaces what a lower
one had at its path, a whiteout ``.wh.NAME`` deletes ``NAME`` (and what is under it) from the
layers below, an opaque whiteout ``.wh..wh..opq`` hides everything the layers below had in its
directory, and an upper non-directory at a path hides what the layers below had under it. So,
walking the layers from the top down, an entry survives unless an upper layer decided its path
already, or deleted it, one of its directories, or made one of its directories opaque; within
one layer, the last entry of a name wins (as extracting the tar would leave it). The driver
reads the tars (twice: the names, then the kept entries, bottom layer first, so that a
directory comes before its contents and a hard link after its target) and writes the one tar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["OPAQUE", "WHITEOUT", "LayerEntry", "kept_entries", "normalize_name"]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True, slots=True)
class LayerEntry:
    """One entry of a layer's tar: its normalised path and whether it is a directory."""

    name: str
    directory: bool = False


def normalize_name(name: str) -> str:
    """A tar entry's path as the filesystem sees it: no ``./`` or ``/`` in front, no ``/`` at
    the end, no empty or ``.`` components ("" for the root itself)."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return "/".join(parts)


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


def _ancestors(name: str) -> list[str]:
    """``a/b/c`` -> ``a``, ``a/b`` (the root "" too)."""
    found = [""]
    parts = name.split("/")
    for i in range(1, len(parts)):
        found.append("/".join(parts[:i]))
    return found


def kept_entries(layers: Sequence[Sequence[LayerEntry]]) -> list[set[int]]:
    """For each layer (bottom first), the positions of its entries the final filesystem keeps;
    whiteouts are never kept (they say what goes, and nothing is below a flattened layer)."""
    kept: list[set[int]] = [set() for _ in layers]
    decided: set[str] = set()  # paths an upper layer wrote
    deleted: set[str] = set()  # paths (and what is under them) gone for the layers below
    opaque: set[str] = set()  # directories whose lower contents are hidden
    for index in range(len(layers) - 1, -1, -1):
        entries = layers[index]
        last = {entry.name: at for at, entry in enumerate(entries)}
        gone: set[str] = set()
        hidden: set[str] = set()
        for at, entry in enumerate(entries):
            base = entry.name.rpartition("/")[2]
            if base == OPAQUE:
                hidden.add(_parent(entry.name))
                continue
            if base.startswith(WHITEOUT):
                parent = _parent(entry.name)
                gone.add(f"{parent}/{base[len(WHITEOUT) :]}" if parent else base[len(WHITEOUT) :])
                continue
            if entry.name and not entry.directory:
                # A file or a link replaced whatever the layers below had there and under it,
                # even if an upper layer replaced it in turn.
                gone.add(entry.name)
            if not entry.name or last[entry.name] != at or entry.name in decided:
                continue
            if entry.name in deleted or any(
                a in deleted or a in opaque for a in _ancestors(entry.name)
            ):
                continue
            kept[index].add(at)
        decided.update(entries[at].name for at in kept[index])
        deleted |= gone
        opaque |= hidden
    return kept
