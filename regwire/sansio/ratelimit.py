"""A registry's rate limit, as Docker Hub reports it on manifest answers.

Theory of operation. Docker Hub sends ``RateLimit-Limit: 100;w=21600`` and
``RateLimit-Remaining: 76;w=21600`` (pulls, and the window in seconds: the IETF draft
"RateLimit header fields for HTTP" form) on every manifest answer, and counts only GETs of
manifests as pulls, so a HEAD asks without spending one (regctl's ``image ratelimit`` does the
same). Other registries send nothing: every field is then None. The headers are read leniently
(the first policy of a list, unknown parameters ignored); one that does not parse is None, as if
absent, since a number we cannot read tells a script nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .access import authorized
from .events import Operation, Response
from .failures import failure
from .manifests import ACCEPT
from .scopes import pull
from .session import Session

__all__ = ["RateLimit", "parse_ratelimit", "ratelimit", "read_ratelimit"]

# A count, and parameters; at most 18 digits, so that int() never meets a huge number.
_VALUE = re.compile(r"\s*([0-9]{1,18})\s*((?:;[^,;]*)*)\s*", re.ASCII)
_WINDOW = re.compile(r"\s*w\s*=\s*([0-9]{1,18})\s*", re.ASCII)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What the registry said of its rate limit; None where it said nothing (or nothing legible).

    ``limit`` and ``remaining`` count pulls, ``window`` is the limit's period in seconds,
    ``source`` what the limit is counted against (Docker Hub: the client's address or account).
    """

    limit: int | None = None
    remaining: int | None = None
    window: int | None = None
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "window": self.window,
            "source": self.source,
        }


def parse_ratelimit(text: str | None) -> tuple[int, int | None] | None:
    """The count and window (seconds, or None) of a ``RateLimit-*`` header, or None.

    ``100;w=21600`` gives ``(100, 21600)``, ``100`` gives ``(100, None)``; of a list of policies
    (``100, 100;w=21600``) the first. Any other text gives None; nothing here raises.
    """
    if text is None:
        return None
    first = text.split(",", 1)[0]
    match = _VALUE.fullmatch(first)
    if match is None:
        return None
    window = None
    for parameter in match.group(2).split(";")[1:]:
        found = _WINDOW.fullmatch(parameter)
        if found is not None:
            window = int(found.group(1))
            break
    return int(match.group(1)), window


def read_ratelimit(response: Response) -> RateLimit:
    """The rate limit ``response``'s headers state."""
    limit = parse_ratelimit(response.header("RateLimit-Limit"))
    remaining = parse_ratelimit(response.header("RateLimit-Remaining"))
    source = (response.header("Docker-RateLimit-Source") or "").strip() or None
    window = (limit[1] if limit else None) or (remaining[1] if remaining else None)
    return RateLimit(
        limit[0] if limit else None,
        remaining[0] if remaining else None,
        window,
        source,
    )


def ratelimit(session: Session, repository: str, reference: str) -> Operation[RateLimit]:
    """The rate limit the registry reports on a HEAD of the manifest ``reference`` names.

    Raises:
        TagNotFound, ImageNotFound, AccessDenied, ...
    """
    url = session.v2_url(repository, "manifests", quote(reference, safe=":"))
    response = yield from authorized(
        session, "HEAD", url, pull(repository), (("Accept", ACCEPT),), max_body=0
    )
    if response.status != 200:
        user_tag = "" if ":" in reference else reference
        raise failure(
            session, response, url, "manifest", repository, reference=reference, user_tag=user_tag
        )
    return read_ratelimit(response)
