"""Checking an account against a registry before it is saved, as ``docker login`` does.

Theory of operation. We ask ``/v2/`` without credentials. A 200 means the registry asks for
none: there is nothing to check, and docker saves the account all the same. A 401 from the
registry's own origin names how it authenticates. For ``Basic`` we ask ``/v2/`` again with the
account: only a 200 proves it. For ``Bearer`` we ask the challenge's realm for a token with the
account's Basic credentials and no scope (docker's own login request): a token server hands out
anonymous tokens to anyone, so only an answer to *these* credentials proves them, and a realm
that refuses them answers 401. The caller gives a session made for the login alone, so
the token it leaves there serves nothing else.
"""

from __future__ import annotations

from typing import NoReturn

from .access import token
from .auth import basic_header
from .errors import AuthenticationError, ServerError
from .events import Operation, Response
from .session import Session
from .transport import clean_url, follow

__all__ = ["check_login"]

LOGIN_BODY_LIMIT = 64 * 1024


def check_login(session: Session) -> Operation[None]:
    """Check ``session.credentials`` against the registry (module docstring).

    Raises:
        AuthenticationError: the registry or its token realm refused the account, or would
            have it sent over plain http to a registry not marked insecure.
        ServerError: the registry answered ``/v2/`` with a 5xx.
    """
    credentials = session.credentials
    if credentials is None or not credentials.has_basic:
        raise ValueError("check_login needs a username and password on the session")
    url = session.base(True) + "/v2/"
    response, final = yield from _get(session, url, ())
    if response.status == 200:
        return
    if response.status != 401 or not session.is_registry_origin(final):
        _refused(session, url, response)
    challenge = session.pick_challenge(response, url)
    url = session.current(url)  # the first answer may have moved us to http
    if challenge.scheme == "bearer":
        yield from token(session, challenge, frozenset(), url, True)
        return
    if not session.may_send_secrets(url):
        raise AuthenticationError(
            clean_url(url),
            "refusing to send credentials over plain http; "
            "mark the registry insecure if you trust this network",
        )
    response, _ = yield from _get(session, url, (("Authorization", basic_header(credentials)),))
    if response.status != 200:
        _refused(session, url, response)


def _get(
    session: Session, url: str, headers: tuple[tuple[str, str], ...]
) -> Operation[tuple[Response, str]]:
    request = session.request("GET", session.current(url), headers, max_body=LOGIN_BODY_LIMIT)
    return (yield from follow(session, request))


def _refused(session: Session, url: str, response: Response) -> NoReturn:
    """Raise the error that says why ``response`` is no proof of the account."""
    status = response.status
    if status >= 500:
        raise ServerError(clean_url(url), status, session.error_codes(response)[1])
    if status in (401, 403):
        raise AuthenticationError(
            clean_url(url), f"the registry refused the credentials (status {status})", status
        )
    raise AuthenticationError(
        clean_url(url),
        f"the registry answered status {status} to /v2/, so the credentials cannot be "
        "checked; is this a registry's name?",
        status,
    )
