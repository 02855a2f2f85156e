"""`regwire.sansio.login.check_login`, scripted: each request it makes, each answer it gets."""

from __future__ import annotations

import base64
import json
from collections.abc import Generator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from regwire.sansio.auth import Credentials
from regwire.sansio.errors import AuthenticationError, ServerError
from regwire.sansio.events import Request, Response
from regwire.sansio.login import check_login
from regwire.sansio.registry import Registry

BASIC = "Basic " + base64.b64encode(b"alice:secret-pw").decode()
TOKEN = Response(200, (), json.dumps({"token": "tok-123", "expires_in": 300}).encode())


def _op(name: str = "r.example", **kw: Any) -> Generator[Any, Any, None]:
    kw.setdefault("credentials", Credentials("alice", "secret-pw"))
    registry = Registry(name, clock=lambda: 1000.0, **kw)
    return check_login(registry.session)


def _challenge(value: str) -> Response:
    return Response(401, (("WWW-Authenticate", value),))


def _finish(op: Generator[Any, Any, None], answer: Response) -> None:
    with pytest.raises(StopIteration):
        op.send(answer)


def test_an_open_registry_needs_no_check() -> None:
    op = _op()
    first = next(op)
    assert (first.method, first.url, first.header("Authorization")) == (
        "GET",
        "https://r.example/v2/",
        None,
    )
    _finish(op, Response(200))


def test_basic_sends_the_account_and_wants_200() -> None:
    op = _op()
    next(op)
    again: Request = op.send(_challenge('Basic realm="r"'))
    assert again.url == "https://r.example/v2/" and again.header("Authorization") == BASIC
    _finish(op, Response(200))


@pytest.mark.parametrize("status", [401, 403])
def test_basic_refused_is_an_authentication_error(status: int) -> None:
    op = _op()
    next(op)
    op.send(_challenge('Basic realm="r"'))
    with pytest.raises(AuthenticationError) as raised:
        op.send(Response(status))
    assert raised.value.status == status and "refused the credentials" in str(raised.value)
    assert "secret-pw" not in str(raised.value)


def test_bearer_asks_the_realm_with_the_account_and_no_scope() -> None:
    op = _op()
    next(op)
    asked: Request = op.send(_challenge('Bearer realm="https://auth.example/token",service="reg"'))
    parts = urlsplit(asked.url)
    assert (parts.netloc, parts.path) == ("auth.example", "/token")
    assert parse_qs(parts.query) == {"service": ["reg"], "account": ["alice"]}
    assert asked.header("Authorization") == BASIC
    _finish(op, TOKEN)


def test_bearer_refused_by_the_realm_is_an_authentication_error() -> None:
    op = _op()
    next(op)
    op.send(_challenge('Bearer realm="https://auth.example/token"'))
    with pytest.raises(AuthenticationError) as raised:
        op.send(Response(401))
    assert raised.value.status == 401


def test_plain_http_to_a_registry_not_marked_insecure_keeps_the_password() -> None:
    op = _op("http://r.example")
    next(op)
    with pytest.raises(AuthenticationError, match="plain http"):
        op.send(_challenge('Basic realm="r"'))


def test_an_insecure_registry_may_have_the_password_over_http() -> None:
    op = _op("http://r.example", insecure=True)
    assert next(op).url == "http://r.example/v2/"
    again: Request = op.send(_challenge('Basic realm="r"'))
    assert again.url == "http://r.example/v2/" and again.header("Authorization") == BASIC
    _finish(op, Response(200))


def test_not_a_registry_cannot_check_anything() -> None:
    op = _op()
    next(op)
    with pytest.raises(AuthenticationError, match="is this a registry") as raised:
        op.send(Response(404))
    assert raised.value.status == 404


def test_a_server_error_is_a_server_error() -> None:
    op = _op()
    next(op)
    with pytest.raises(ServerError):
        op.send(Response(500))


def test_a_401_from_a_redirect_target_sets_no_realm() -> None:
    op = _op()
    next(op)
    moved: Request = op.send(Response(307, (("Location", "https://cdn.example/v2/"),)))
    assert moved.url == "https://cdn.example/v2/"
    with pytest.raises(AuthenticationError) as raised:
        op.send(_challenge('Bearer realm="https://evil.example/token"'))
    assert raised.value.status == 401


def test_an_account_is_needed() -> None:
    with pytest.raises(ValueError, match="username and password"):
        next(_op(credentials=None))
