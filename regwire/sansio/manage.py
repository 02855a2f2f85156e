"""Content management (distribution spec v1.1): deleting manifests, tags and blobs.

A registry answers 202 to a delete it carried out; 405, 400 or ``UNSUPPORTED`` mean it does not
do deletes (distribution's are off unless configured), which is `Unsupported`, not a failure of
the credentials. Deletes ask for the ``delete`` action (distribution requires it).
"""

from __future__ import annotations

from urllib.parse import quote

from .access import authorized
from .errors import Unsupported
from .events import Operation
from .failures import failure
from .scopes import delete as delete_scope
from .session import Session
from .transport import clean_url

__all__ = ["delete", "delete_blob"]


def delete(session: Session, repository: str, reference: str) -> Operation[None]:
    """Delete the manifest ``reference`` names (by digest), or the tag ``reference``."""
    url = session.v2_url(repository, "manifests", quote(reference, safe=":"))
    response = yield from authorized(
        session, "DELETE", url, delete_scope(repository), max_body=64 * 1024
    )
    if response.status not in (200, 202, 204):
        error = failure(session, response, url, "delete", repository, reference=reference)
        if ":" not in reference and response.status == 400:
            # distribution before OCI 1.1 deletes manifests by digest only; deleting the
            # manifest a tag names would take every other tag on it too: say so, do not guess.
            raise Unsupported(
                clean_url(url),
                "deleting a tag",
                "delete REPOSITORY@DIGEST to remove the manifest with every tag on it",
                error.codes,
            ) from error
        raise error


def delete_blob(session: Session, repository: str, digest: str) -> Operation[None]:
    url = session.v2_url(repository, "blobs", digest)
    response = yield from authorized(
        session, "DELETE", url, delete_scope(repository), max_body=64 * 1024
    )
    if response.status not in (200, 202, 204):
        if response.status == 404:
            raise failure(session, response, url, "blob", repository, reference=digest)
        raise failure(session, response, url, "delete", repository, reference=digest)
