"""Files as OCI artifacts, from the blocking client: the oras workflow, in Python.

`push_plan` uploads each file as a layer (its name in ``org.opencontainers.image.title``),
the empty config, and the artifact manifest; `pull_plan` writes each titled layer back into a
directory, verified, atomically, and never outside it. The manifest itself is built by
`regwire.sansio.artifacts`; this module reads and writes the files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeVar

from ..sansio.artifacts import (
    EMPTY_CONFIG,
    EMPTY_DATA,
    FILE_LAYER,
    TITLE,
    artifact_manifest,
    titled_layers,
)
from ..sansio.errors import ProtocolError
from ..sansio.manifests import OCI_MANIFEST, Descriptor
from ..sansio.reference import Reference
from ._client import as_reference

__all__ = ["FileSpec", "pull_plan", "push_plan", "run_plan", "run_plan_async", "safe_title"]

T = TypeVar("T")

FileSpec = str | os.PathLike[str] | tuple[str, bytes | IO[bytes]]


class _Counting:
    """A source that counts what is read from it (a layer's size, for its descriptor)."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source, self.size = source, 0

    def read(self, size: int) -> bytes:
        data = self.source.read(size)
        self.size += len(data)
        return data


def safe_title(title: str) -> PurePosixPath:
    """``title`` as a relative path that stays inside the directory it is written to."""
    path = PurePosixPath(title)
    if not title or "\0" in title or "\\" in title or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"refusing the file name {title!r}: it would leave the directory")
    return path


Step = tuple[str, tuple[Any, ...]]  # a client method's name, and its arguments
Plan = Generator[Step, Any, T]


def run_plan(client: Any, plan: Plan[T]) -> T:
    """Carry out ``plan`` with a blocking client: each step a method call."""
    value: Any = None
    resume = plan.send
    while True:
        try:
            name, args = resume(value)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            value, resume = getattr(client, name)(*args), plan.send
        except BaseException as exc:  # the plan cleans up (a partial file) and re-raises
            value, resume = exc, plan.throw


async def run_plan_async(client: Any, plan: Plan[T]) -> T:
    """Carry out ``plan`` with an async client: each step an awaited method call."""
    value: Any = None
    resume = plan.send
    while True:
        try:
            name, args = resume(value)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            value, resume = await getattr(client, name)(*args), plan.send
        except BaseException as exc:
            value, resume = exc, plan.throw


def push_plan(
    ref: str | Reference,
    files: Sequence[FileSpec],
    *,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
    subject: str | Reference | None = None,
    layer_type: str = FILE_LAYER,
) -> Plan[str]:
    """Push ``files`` (paths, or ``(name, bytes or binary file)`` pairs) as an artifact: the
    steps, for any client. Directories are refused (pack them into an archive first)."""
    reference = as_reference(ref)
    repository = Reference(reference.registry, reference.repository)
    layers: list[Descriptor] = []
    for item in files:
        if isinstance(item, tuple):
            name, source = item
            safe_title(name)
            if isinstance(source, (bytes, bytearray)):
                digest = yield ("push_blob", (repository, bytes(source)))
                size = len(source)
            else:
                counting = _Counting(source)
                digest = yield ("push_blob", (repository, counting))
                size = counting.size
        else:
            path = Path(item)
            if path.is_dir():
                raise ValueError(f"{path} is a directory: push files (archive the directory first)")
            name = path.name
            with open(path, "rb") as file:
                digest = yield ("push_blob", (repository, file))
            size = path.stat().st_size
        layers.append(Descriptor(layer_type, digest, size, annotations={TITLE: name}))
    config = yield ("push_blob", (repository, EMPTY_DATA))
    assert config == EMPTY_CONFIG.digest
    subject_descriptor = None
    if subject is not None:
        manifest = yield ("manifest", (subject,))
        subject_descriptor = Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
    raw = artifact_manifest(
        layers, artifact_type=artifact_type, annotations=annotations, subject=subject_descriptor
    )
    pushed: str = yield ("push_manifest", (reference, raw, OCI_MANIFEST))
    return pushed


def pull_plan(
    ref: str | Reference, directory: str | os.PathLike[str], *, overwrite: bool = False
) -> Plan[list[Path]]:
    """Write each titled layer of the artifact ``ref`` names into ``directory``: the steps.

    Each file is downloaded beside its final name, verified, then renamed into place. A title
    that would leave the directory (absolute, ``..``, through a symlink) is refused, and so is
    an existing file unless ``overwrite``.
    """
    reference = as_reference(ref)
    manifest = yield ("manifest", (reference,))
    if manifest.is_index:
        raise ProtocolError(
            str(reference), "an index is not an artifact; pull one of its manifests"
        )
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    written: list[Path] = []
    for title, layer in titled_layers(manifest):
        target = _target(root, title, reference)
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                blob = Reference(reference.registry, reference.repository, digest=layer.digest)
                yield ("blob", (blob, file))
            os.replace(partial, target)
        except BaseException:
            try:
                os.unlink(partial)
            except FileNotFoundError:
                pass
            raise
        written.append(target)
    return written


def _target(root: Path, title: str, reference: Reference) -> Path:
    """Where the file titled ``title`` goes: inside ``root``, never through a symlink."""
    try:
        target = root.joinpath(*safe_title(title).parts)
    except ValueError as exc:  # the registry's word, not the caller's: a protocol matter
        raise ProtocolError(str(reference), str(exc)) from None
    for parent in [target, *target.parents]:
        if parent == root:
            break
        if parent.is_symlink():
            raise ProtocolError(
                str(reference), f"refusing the file name {title!r}: {parent} is a symlink"
            )
    return target
