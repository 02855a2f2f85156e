"""A repository of a registry as one end of a copy (`regwire.sansio.ends.End`).

Reading is the pull family's (`pull.manifest`, `discovery.referrers`, a blob as a
`pull.BlobDownload`); writing the push family's (`uploads.blob_exists`, `uploads.upload_from`,
`push.push_manifest`). What is particular to a registry end is said here: a destination on the
same registry mounts a blob from the source's repository instead of receiving its bytes, a blob
up to ``Limits.one_put_bytes`` goes in one ``PUT ?digest=``, and operations may start together
only once the session has learnt the repository's API, challenge and token (`Session.ready_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .discovery import referrers as find_referrers
from .ends import BlobSource, CopyProgress, Report
from .events import Operation
from .manifests import Descriptor, Manifest
from .pull import BlobDownload
from .pull import manifest as read_manifest
from .push import push_manifest
from .session import Session
from .transport import Limits
from .uploads import blob_exists, upload_from

__all__ = ["Remote"]


@dataclass(frozen=True, slots=True)
class Remote:
    """A repository of a registry, as one end of a copy."""

    session: Session
    repository: str
    keeps_index: ClassVar[bool] = False  # a registry lists nothing it was not asked to tag

    @property
    def url(self) -> str:
        return self.session.v2_url(self.repository)

    @property
    def limits(self) -> Limits:
        return self.session.limits

    @property
    def mount_source(self) -> tuple[str, str]:
        return str(self.session.url), self.repository

    def ready(self, writing: bool) -> bool:
        return self.session.ready_for(self.repository, writing)

    def begin(self) -> None:
        """A repository needs nothing before its first blob."""

    def manifest(self, reference: str, user: str = "") -> Operation[Manifest]:
        return read_manifest(self.session, self.repository, reference, user)

    def referrers(self, digest: str) -> Operation[list[Descriptor]]:
        return find_referrers(self.session, self.repository, digest, None)

    def has_blob(self, digest: str) -> Operation[bool]:
        return blob_exists(self.session, self.repository, digest)

    def open_blob(self, blob: Descriptor, *, sized: bool, report: Report) -> BlobSource:
        def heard(count: int) -> None:
            report(CopyProgress("bytes", blob.digest, count))

        size = blob.size if sized else None
        return BlobDownload(self.session, self.repository, blob.digest, size, heard)

    def write_blob(
        self,
        blob: Descriptor,
        source: BlobSource,
        *,
        mount_from: tuple[str, str] | None = None,
    ) -> Operation[bool]:
        """Through the one upload engine (`upload_from`): mounted when ``mount_from`` is a
        repository of this registry, in one ``PUT ?digest=`` up to ``Limits.one_put_bytes``,
        else streamed by PATCH. A failed upload's session is left to expire, as copies always
        have (the next attempt starts its own)."""
        same = mount_from is not None and mount_from[0] == str(self.session.url)
        written = yield from upload_from(
            self.session,
            self.repository,
            source,
            digest=blob.digest,
            mount_from=mount_from[1] if same and mount_from is not None else None,
            one_put_up_to=self.session.limits.one_put_bytes,
            cancel_on_error=False,
        )
        return written is not None

    def put_manifest(self, manifest: Manifest, tag: str, *, listed: bool) -> Operation[str]:
        """Pushed byte for byte; a registry lists what is pushed by digest without being asked
        (``listed`` changes nothing here)."""
        return push_manifest(self.session, self.repository, tag, manifest.raw, manifest.media_type)
