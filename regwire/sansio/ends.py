"""The two contracts a copy is written over: an end (a registry repository, an OCI layout, next
an archive) and a blob read from one as a stream.

Theory of operation. A copy (`regwire.sansio.copying`) plans what to read and write and in
what order; it never asks what kind of end it talks to. Each end implements `End`: read a
manifest, list referrers, say whether it holds a blob, open one of its blobs as a `BlobSource`,
write a blob from another end's `BlobSource`, write a manifest. A new kind of end (an archive
written sequentially, where "has blob?" is answered from what was written so far and a manifest
goes after its blobs) is a new module implementing these methods; the copy's planning does not
change (regclient's ``scheme.API``, where a registry and an OCI directory are one interface).

A `BlobSource` is read the way trio's ``ReceiveStream`` is (``_abc.py``): the contract is
written here, once, so that every source and every consumer agree on it:

- ``open()`` starts reading (idempotent: a source already open is left as it is) and returns
  the length to frame an upload's body with, or None when the source cannot tell.
- ``read(want, position)`` returns the next piece, at most ``want`` bytes (None: a piece of
  the source's own size, as the driver hands it over), empty at the end; ``position`` is
  how much the consumer took since byte 0.
  The piece may be kept by the consumer while the next is read (a source whose driver refills
  one buffer copies it). A source never hands out a byte past its declared ``size``: one more
  is its own typed error, raised before the consumer passes anything on.
- ``check(verifier, expected)`` says whether what was read whole (hashed by the consumer in
  ``verifier``) is what the source declared: its ``size``, and ``expected`` or its own digest.
  Consumers call it before the last piece leaves them (the held-back last piece), so that a
  registry or a layout never holds other bytes under the blob's name.
- ``rewind()`` makes the next read start again at byte 0 (a new ``GET``, a ``seek``, a
  `SeekSource`); it returns None, or the reason the source cannot be read again (a pipe).
- ``close()`` frees what ``open()`` took (a file); the copy that opened the source closes it.
- `SourceStartedOver` is raised by ``read`` when a source that resumed a broken read found
  itself back at byte 0 (a registry answering a ``Range`` with the whole body): what the
  consumer took so far must be dropped and hashed again.

``channels`` says how many connection slots (`Request.channel`) the source holds while it is
read, from 0: a consumer that sends what it reads on the network uses the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .digests import Verifier
from .events import ConnectionFailed, Operation
from .manifests import Descriptor, Manifest
from .transport import Limits

__all__ = [
    "BlobSource",
    "CopyDestination",
    "CopyProgress",
    "End",
    "Report",
    "SourceStartedOver",
    "quiet",
]


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """What a copy just did, for a progress display: ``state`` is "bytes" (``size`` more
    bytes of blob ``digest`` went through), "sent" (a blob was written), "present" (the
    destination had it), "mounted", or "manifest" (a manifest was written)."""

    state: str
    digest: str
    size: int = 0


Report = Callable[[CopyProgress], object]


def quiet(event: CopyProgress) -> None:
    """A `Report` that hears nothing."""


class SourceStartedOver(Exception):
    """A source that resumed a broken read is back at byte 0 (the registry answered the
    ``Range`` request with the whole blob): the consumer drops what it took and starts over.
    ``broke`` is the failure that made the source resume."""

    def __init__(self, broke: ConnectionFailed) -> None:
        super().__init__(f"the source started over after {broke.reason}: {broke.message}")
        self.broke = broke


class BlobSource(Protocol):
    """A blob read in pieces through the core (the contract is in the module's docstring)."""

    @property
    def where(self) -> str:
        """What messages call the source (a URL, a layout's file)."""
        ...

    @property
    def size(self) -> int | None:
        """The size declared for the blob (None: none declared, as for Docker schema1)."""
        ...

    @property
    def channels(self) -> int:
        """How many connection slots the source holds while it is read (0 or 1)."""
        ...

    def open(self) -> Operation[int | None]: ...
    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]: ...
    def check(self, verifier: Verifier, expected: str | None) -> None: ...
    def rewind(self) -> Operation[str | None]: ...
    def close(self) -> None: ...


class End(Protocol):
    """One end of a copy: a registry repository (`regwire.sansio.remote.Remote`), an OCI
    layout (`regwire.sansio.layout.LayoutEnd`), next an archive.

    Reading ends answer `manifest`, `referrers`, `open_blob`; writing ends `has_blob`,
    `write_blob`, `put_manifest` (``begin`` once before the first write). The copy's planning
    asks each question of the end, so an end that can answer cheaply (a layout, a file
    written so far) and one that must ask the network (a registry) look alike to it.
    """

    @property
    def url(self) -> str:
        """What messages call the end."""
        ...

    @property
    def limits(self) -> Limits | None:
        """The bounds the end's operations run under (None: the end has none of its own)."""
        ...

    @property
    def mount_source(self) -> tuple[str, str] | None:
        """(registry URL, repository) for a destination on the same registry to mount blobs
        from, or None where blobs cannot be mounted from this end."""
        ...

    @property
    def keeps_index(self) -> bool:
        """Whether the end lists the manifests written to it in an index of its own (a
        layout's ``index.json``), so that the manifest a copy wrote is listed even untagged."""
        ...

    def ready(self, writing: bool) -> bool:
        """Whether operations on the end start without learning anything first (its API, its
        challenge, a token), so that several may start at once without each learning it."""
        ...

    def begin(self) -> None:
        """Prepare the end to be written (a layout's ``oci-layout`` file)."""
        ...

    def manifest(self, reference: str, user: str = "") -> Operation[Manifest]:
        """The manifest a tag or digest names, verified (``user``: the tag as the caller
        wrote it, for messages)."""
        ...

    def referrers(self, digest: str) -> Operation[list[Descriptor]]:
        """The manifests that name ``digest`` as their subject."""
        ...

    def has_blob(self, digest: str) -> Operation[bool]: ...

    def open_blob(self, blob: Descriptor, *, sized: bool, report: Report) -> BlobSource:
        """``blob`` as a `BlobSource` (nothing read before its ``open``); ``sized``: the
        descriptor's size is the blob's (Docker schema1 declares none); ``report`` hears of
        each piece read. A blob the end does not hold may be refused here."""
        ...

    def write_blob(
        self,
        blob: Descriptor,
        source: BlobSource,
        *,
        mount_from: tuple[str, str] | None = None,
    ) -> Operation[bool]:
        """Write ``blob`` from ``source``, committed only once it is verified; True if its
        bytes were written, False if it was mounted from ``mount_from`` (another end's
        `mount_source`) instead."""
        ...

    def put_manifest(self, manifest: Manifest, tag: str, *, listed: bool) -> Operation[str]:
        """Write ``manifest`` byte for byte: tagged ``tag``, or by digest (``listed``: listed
        in the end's own index even untagged, where it keeps one); returns its digest."""
        ...


class CopyDestination(Protocol):
    """What a copy may be written to: it names the `End` it writes, its names checked."""

    def copy_end(self, repository: str, tag: str) -> End: ...
