"""Files as OCI artifacts, from every client: the oras workflow, in Python.

`push_plan` uploads each file as a layer (its name in ``org.opencontainers.image.title``),
the empty config, and the artifact manifest; `pull_plan` writes each titled layer back into a
directory, verified, atomically, and never outside it. The manifest itself is built by
`regwire.sansio.artifacts`; this module reads and writes the files.

A plan's steps name client operations (``("push_blob", args)``), so that `run_plan` can carry
one out with any object that has those methods; its file I/O is a `Blocking` step, which the
async clients run in a worker thread. The clients' own ``push_files``/``pull_files`` carry the
same plans through `regwire.drivers.operations` (`push_files`, `pull_files` here), where the
downloads into the files we opened are written off the event loop too.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Generator, Sequence
from functools import partial
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
from . import operations
from ._client import ClientCore
from .places import as_reference
from .steps import Blocking, Plan, Step

__all__ = [
    "FileSpec",
    "printable_path",
    "pull_files",
    "pull_plan",
    "push_files",
    "push_plan",
    "run_plan",
    "run_plan_async",
    "safe_title",
]

T = TypeVar("T")

FileSpec = str | os.PathLike[str] | tuple[str, bytes | IO[bytes]]


class _Counting:
    """A source that counts what is read from it: a layer's size, for its descriptor.

    The size is the count of bytes hashed and sent, never a ``stat()`` taken afterwards: a
    pipe (``cat f | regwire push REF /dev/stdin``) has no size to stat, and a file appended
    to during the push has grown past the blob. A driver that re-reads a seekable source (a
    registry lost part of an upload) seeks it back, so we count the furthest point reached,
    not every read. The rest of the file's surface (``fileno``, ``tell``, ``seekable``) is the
    source's own, so that drivers still see a regular file and its size.
    """

    def __init__(self, source: IO[bytes]) -> None:
        self.source, self.size, self._position = source, 0, 0

    def read(self, size: int) -> bytes:
        data = self.source.read(size)
        self._position += len(data)
        self.size = max(self.size, self._position)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        before = self.source.tell()
        after = self.source.seek(offset, whence)
        self._position += after - before
        return after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)


# C0 controls, DEL and C1 controls (Unicode category Cc): a terminal acts on them (a newline
# starts a line that names another file, ESC [ 2 J clears the screen, U+009B is CSI on its own).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What `printable_path` escapes: the controls, the backslash (so that an escape is never
# ambiguous) and lone surrogates (a file name that is not UTF-8, as `os.fsdecode` gives it).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Bidirectional controls (Unicode's "Trojan Source" list, CVE-2021-42574): they reorder what a
# terminal shows, so that ``evil\u202etxt.sh`` reads as ``evilhs.txt``.
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\\\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text that is safe to print on a terminal: control characters escaped.

    File names come from registries (layer titles) and from other users' directories; printed
    raw, a newline forges a second name and an escape sequence drives the terminal. We escape
    C0 and C1 controls and DEL (``\\n``, ``\\t``, ``\\r``, else ``\\xNN``), a backslash as
    ``\\\\`` so that every escape reads one way, the lone surrogates that stand for bytes
    that are not UTF-8, and the bidirectional controls that make a name display as another.
    Everything else, non-ASCII letters included, prints as it is.
    """
    return _UNPRINTABLE.sub(_escape, os.fspath(path))


def safe_title(title: str, *, allow_hidden: bool = True) -> PurePosixPath:
    """``title`` as a relative path that stays inside the directory it is written to.

    A title is a name the registry chose (``org.opencontainers.image.title``), so we accept
    only a plain relative path: no absolute path, backslash, ``.`` or ``..`` component (``.``
    would name the directory itself: `PurePosixPath` drops it, so we look at the text), no
    control character (it would reach the terminal when the name is printed), no bidirectional
    control (``\\u202e`` shows ``evil\\u202etxt.sh`` as ``evilhs.txt``) and no lone surrogate
    (it cannot be a file name). Unless ``allow_hidden``, no component may start with
    a dot either: a pulled ``.git/config`` or ``.bashrc`` changes what other programs do.

    Raises:
        ValueError: the title is refused; the message names it escaped, as Go's ``%q`` would.
    """
    quoted = json.dumps(title)  # ensure_ascii: no control character reaches the message
    components = title.split("/")
    if _CONTROL.search(title):
        raise ValueError(f"refusing the file name {quoted}: it holds a control character")
    if _SURROGATE.search(title):
        raise ValueError(f"refusing the file name {quoted}: it is not valid Unicode")
    if _BIDI.search(title):
        raise ValueError(
            f"refusing the file name {quoted}: it holds a bidirectional control character, "
            "which makes a name display as another"
        )
    if not title or "\\" in title or title.startswith("/") or ".." in components:
        raise ValueError(f"refusing the file name {quoted}: it would leave the directory")
    if "." in components:
        raise ValueError(
            f'refusing the file name {quoted}: a "." component names a directory, not a file'
        )
    if not allow_hidden:
        hidden = next((part for part in components if part.startswith(".")), None)
        if hidden is not None:
            raise ValueError(
                f"refusing the file name {quoted}: {json.dumps(hidden)} is hidden (a dot file or"
                " folder); allow hidden names (allow_hidden, --allow-hidden) to write it"
            )
    return PurePosixPath(title)


# A client operation's name, its arguments, and (optionally) its keyword arguments; or a
# `Blocking` step (file I/O).
NamedStep = tuple[str, tuple[Any, ...]] | tuple[str, tuple[Any, ...], dict[str, Any]]
FilesPlan = Generator[NamedStep | Blocking, Any, T]


def _keywords(rest: list[Any]) -> dict[str, Any]:
    return rest[0] if rest else {}


def _one(step: Step) -> Plan[Any]:
    """A plan of one step, for a client's ``carry``."""
    return (yield step)


def run_plan(client: Any, plan: FilesPlan[T]) -> T:
    """Carry out ``plan`` with a blocking client: each step a method call (`Blocking` steps
    through the client's ``carry``)."""
    value: Any = None
    resume = plan.send
    while True:
        try:
            step = resume(value)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            if isinstance(step, Blocking):
                value = client.carry(_one(step))
            else:
                name, args, *keywords = step
                value = getattr(client, name)(*args, **_keywords(keywords))
            resume = plan.send
        except BaseException as exc:  # the plan cleans up (a partial file) and re-raises
            value, resume = exc, plan.throw


async def run_plan_async(client: Any, plan: FilesPlan[T]) -> T:
    """Carry out ``plan`` with an async client: each step an awaited method call (`Blocking`
    steps in a worker thread, through the client's ``carry``)."""
    value: Any = None
    resume = plan.send
    while True:
        try:
            step = resume(value)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            if isinstance(step, Blocking):
                value = await client.carry(_one(step))
            else:
                name, args, *keywords = step
                value = await getattr(client, name)(*args, **_keywords(keywords))
            resume = plan.send
        except BaseException as exc:
            value, resume = exc, plan.throw


# The client operations an artifact plan calls, as plans of `regwire.drivers.operations`. A
# download goes into a file the plan opened, so it is written off an async client's loop.
_OPERATIONS: dict[str, Callable[..., Plan[Any]]] = {
    "push_blob": operations.push_blob,
    "push_manifest": operations.push_manifest,
    "manifest": operations.manifest,
    "blob": partial(operations.blob, files=True),
}


def _through_operations(core: ClientCore, plan: FilesPlan[T]) -> Plan[T]:
    """``plan`` as a plan of `regwire.drivers.steps`: each named step is that operation's plan."""
    value: Any = None
    failed: BaseException | None = None
    while True:
        try:
            step = plan.send(value) if failed is None else plan.throw(failed)
        except StopIteration as done:
            result: T = done.value
            return result
        value, failed = None, None
        try:
            if isinstance(step, Blocking):
                value = yield step
            else:
                name, args, *keywords = step
                value = yield from _OPERATIONS[name](core, *args, **_keywords(keywords))
        except GeneratorExit:
            plan.close()
            raise
        except BaseException as exc:  # the plan cleans up (a partial file) and re-raises
            failed = exc


def push_files(
    core: ClientCore,
    ref: str | Reference,
    files: Sequence[FileSpec],
    *,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
    subject: str | Reference | None = None,
) -> Plan[str]:
    """The clients' ``push_files``: `push_plan` under registries.conf's short names."""
    plan = push_plan(
        core.qualified(ref, writing=True),
        files,
        artifact_type=artifact_type,
        annotations=annotations,
        subject=subject,
    )
    return (yield from _through_operations(core, plan))


def pull_files(
    core: ClientCore,
    ref: str | Reference,
    directory: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    allow_hidden: bool = False,
) -> Plan[list[Path]]:
    """The clients' ``pull_files``: `pull_plan` under registries.conf's short names."""
    plan = pull_plan(
        core.qualified(ref, writing=False),
        directory,
        overwrite=overwrite,
        allow_hidden=allow_hidden,
    )
    return (yield from _through_operations(core, plan))


def push_plan(
    ref: str | Reference,
    files: Sequence[FileSpec],
    *,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
    subject: str | Reference | None = None,
    layer_type: str = FILE_LAYER,
) -> FilesPlan[str]:
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
            name = path.name
            safe_title(name)
            file = yield Blocking(partial(_open_file, path))
            try:
                counting = _Counting(file)
                digest = yield ("push_blob", (repository, counting))
            except BaseException:
                file.close()  # read-only: nothing to flush; no step while failing (cancelled)
                raise
            yield Blocking(file.close)
            size = counting.size
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
    ref: str | Reference,
    directory: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    allow_hidden: bool = False,
) -> FilesPlan[list[Path]]:
    """Write each titled layer of the artifact ``ref`` names into ``directory``: the steps.

    Each file is downloaded beside its final name, verified, then renamed into place. A title
    that would leave the directory (absolute, ``..``, through a symlink), names it (``.``) or
    holds a control character is refused, and so is an existing file unless ``overwrite``.
    A title that is or lies under a hidden file or folder (``.git/config``, ``.bashrc``) is
    refused unless ``allow_hidden``: the registry, not the user, chose it. Every title is
    checked before the first file is written, so a refusal leaves ``directory`` as it was.
    """
    reference = as_reference(ref)
    manifest = yield ("manifest", (reference,))
    if manifest.is_index:
        raise ProtocolError(
            str(reference), "an index is not an artifact; pull one of its manifests"
        )
    layers = titled_layers(manifest)
    for title, _ in layers:  # all of them first: a refusal writes nothing
        _checked_title(title, reference, allow_hidden=allow_hidden)
    root = yield Blocking(partial(_made, Path(directory)))
    written: list[Path] = []
    for title, layer in layers:
        target, temporary, file = yield Blocking(
            partial(_beside, root, title, reference, overwrite=overwrite, allow_hidden=allow_hidden)
        )
        try:
            blob = Reference(reference.registry, reference.repository, digest=layer.digest)
            yield ("blob", (blob, file), {"size": layer.size})
            yield Blocking(file.close)
            yield Blocking(partial(os.replace, temporary, target))
        except BaseException:
            # No step while failing: a cancelled async client cannot wait for a thread, and the
            # partial file must go whatever ended the download.
            file.close()
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            raise
        written.append(target)
    return written


def _open_file(path: Path) -> IO[bytes]:
    """``path`` opened to be pushed; a directory is refused (archive it first)."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory: push files (archive the directory first)")
    return open(path, "rb")


def _made(root: Path) -> Path:
    """``root`` created if need be, as a resolved path (every target is checked against it)."""
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def _beside(
    root: Path, title: str, reference: Reference, *, overwrite: bool, allow_hidden: bool
) -> tuple[Path, str, IO[bytes]]:
    """Where the file titled ``title`` goes, and a new temporary file beside it to download
    into (renamed into place once verified)."""
    target = _target(root, title, reference, allow_hidden=allow_hidden)
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
    )
    try:
        return target, temporary, os.fdopen(handle, "wb")
    except BaseException:
        os.close(handle)
        os.unlink(temporary)
        raise


def _checked_title(title: str, reference: Reference, *, allow_hidden: bool) -> PurePosixPath:
    """`safe_title`, its refusal a `ProtocolError`: the registry's word, not the caller's."""
    try:
        return safe_title(title, allow_hidden=allow_hidden)
    except ValueError as exc:
        raise ProtocolError(str(reference), str(exc)) from None


def _target(root: Path, title: str, reference: Reference, *, allow_hidden: bool) -> Path:
    """Where the file titled ``title`` goes: inside ``root``, never through a symlink."""
    target = root.joinpath(*_checked_title(title, reference, allow_hidden=allow_hidden).parts)
    for parent in [target, *target.parents]:
        if parent == root:
            break
        if parent.is_symlink():
            where = printable_path(parent)
            raise ProtocolError(
                str(reference), f"refusing the file name {json.dumps(title)}: {where} is a symlink"
            )
    return target
