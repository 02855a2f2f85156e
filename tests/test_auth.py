"""Token responses and token requests as registries expect them (Docker token spec)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from regwire import AuthenticationError, Credentials
from regwire.sansio import Response
from regwire.sansio.auth import MAX_TOKEN_BODY, RENEW_MARGIN, parse_token, token_request

NOW = 1_700_000_000.0
REALM = "https://auth.test/token"


def token(body: bytes, status: int = 200) -> float:
    return parse_token(Response(status, (), body), REALM, NOW).expires_at - NOW + RENEW_MARGIN


def test_expiry_rules() -> None:
    assert token(b'{"token":"t"}') == 60  # default
    assert token(b'{"token":"t","expires_in":10}') == 60  # floor
    assert token(b'{"token":"t","expires_in":300}') == 300
    # issued_at in the past shortens the life; in the future (or garbage) means now
    assert token(b'{"token":"t","expires_in":300,"issued_at":"2023-11-14T22:12:20Z"}') == 300 - 60
    assert token(b'{"token":"t","expires_in":300,"issued_at":"2099-01-01T00:00:00Z"}') == 300
    assert token(b'{"token":"t","expires_in":300,"issued_at":"yesterday"}') == 300


def test_access_token_preferred_unless_empty() -> None:
    assert (
        parse_token(Response(200, (), b'{"token":"a","access_token":"b"}'), REALM, NOW).value == "b"
    )
    assert (
        parse_token(Response(200, (), b'{"token":"a","access_token":""}'), REALM, NOW).value == "a"
    )


def test_token_body_is_capped() -> None:
    request = token_request(REALM, "svc", frozenset({"repository:a:pull"}), None, False)
    assert request.max_body == MAX_TOKEN_BODY == 1024 * 1024
    with pytest.raises(AuthenticationError, match="over 1048576 bytes"):
        parse_token(Response(200, (), b"{", truncated=True), REALM, NOW)


def test_get_request_keeps_realm_query_and_adds_one_scope_each() -> None:
    request = token_request(
        REALM + "?x=1",
        None,
        frozenset({"repository:b:pull", "repository:a:pull"}),
        Credentials("bob", "pw"),
        False,
    )
    query = parse_qs(urlsplit(request.url).query)
    assert query == {
        "x": ["1"],
        "scope": ["repository:a:pull", "repository:b:pull"],
        "account": ["bob"],
    }
    assert request.header("Authorization") == "Basic Ym9iOnB3"


def test_credentials_repr_hides_secrets() -> None:
    creds = Credentials("bob", "pw", identity_token="idt", registry_token="rt")
    assert "pw" not in repr(creds).replace("password", "")
    assert "idt" not in repr(creds) and "rt'" not in repr(creds)
    assert repr(creds).startswith("Credentials(username='bob'")
