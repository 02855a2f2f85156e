"""WWW-Authenticate parsing (RFC 7235)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire import ProtocolError, RegistryError
from regwire.sansio import Challenge, parse_challenges
from regwire.sansio.challenges import render_challenge
from tests.strategies import param_values, token_text


def test_docker_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"'
    )
    [challenge] = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/alpine:pull",
    }
    assert challenge.token68 is None


def test_commas_and_escapes_inside_quotes() -> None:
    [challenge] = parse_challenges(r'Bearer scope="repository:a/b:pull,push", x="q\"uo\\te"')
    assert challenge.params == {"scope": "repository:a/b:pull,push", "x": 'q"uo\\te'}


def test_several_challenges_in_one_header_and_across_lines() -> None:
    header = 'Basic realm="r1", , Bearer realm="r2" ,service=s,  Negotiate abc==, Other'
    parsed = parse_challenges(header)
    assert [c.scheme for c in parsed] == ["basic", "bearer", "negotiate", "other"]
    assert parsed[1].params == {"realm": "r2", "service": "s"}
    assert parsed[2].token68 == "abc=="
    assert parsed[3] == Challenge("other", {}, None)
    assert parse_challenges(['Basic realm="a"', 'BEARER REALM="b"']) == [
        Challenge("basic", {"realm": "a"}),
        Challenge("bearer", {"realm": "b"}),
    ]


def test_case_insensitive_names_and_stray_whitespace() -> None:
    [challenge] = parse_challenges('  BeArEr   Realm = "x" ,\tSERVICE=y  ')
    assert challenge == Challenge("bearer", {"realm": "x", "service": "y"})


def test_empty_header_has_no_challenges() -> None:
    assert parse_challenges("") == []
    assert parse_challenges(" , ,") == []


@pytest.mark.parametrize(
    "header",
    ['Bearer realm="unterminated', 'Bearer realm="a"x', '"quoted"', "Bearer a=b c=d", "Basic x y"],
)
def test_garbage_is_a_protocol_error(header: str) -> None:
    with pytest.raises(ProtocolError, match="position"):
        parse_challenges(header)


@st.composite
def challenge_lists(draw: st.DrawFn) -> list[Challenge]:
    result = []
    for _ in range(draw(st.integers(1, 4))):
        scheme = draw(token_text).lower()
        if draw(st.booleans()):
            token68 = draw(st.from_regex(r"\A[A-Za-z0-9\-._~+/]{1,12}={0,2}\Z"))
            result.append(Challenge(scheme, {}, token68))
        else:
            keys = draw(st.lists(token_text.map(str.lower), unique=True, max_size=4))
            params = {key: draw(param_values) for key in keys}
            result.append(Challenge(scheme, params, None))
    return result


@given(challenge_lists(), st.sampled_from([", ", ",", " , ", ",, "]))
def test_rendered_challenges_parse_back(challenges: list[Challenge], joiner: str) -> None:
    rendered = [
        f"{c.scheme} {c.token68}" if c.token68 else render_challenge(c.scheme, c.params)
        for c in challenges
    ]
    parsed = parse_challenges(joiner.join(rendered))
    assert [(c.scheme, c.params, c.token68) for c in parsed] == [
        (c.scheme, c.params, c.token68) for c in challenges
    ]


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_a_registry_error(text: str) -> None:
    try:
        parse_challenges(text)
    except RegistryError:
        pass


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # RFC 7235's #auth-param allows empty list elements, leading ones included.
        ('Basic , realm="foo"', [Challenge("basic", {"realm": "foo"})]),
        ('Basic ,, realm="foo" , , x=y', [Challenge("basic", {"realm": "foo", "x": "y"})]),
        (
            'Basic , realm="a", Bearer , realm="b"',
            [Challenge("basic", {"realm": "a"}), Challenge("bearer", {"realm": "b"})],
        ),
        # Without the space, the comma ends the (bare) challenge.
        ("Basic, Bearer", [Challenge("basic"), Challenge("bearer")]),
    ],
)
def test_empty_leading_list_elements(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected
    assert [c.params for c in parse_challenges(header)] == [c.params for c in expected]
