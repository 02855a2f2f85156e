"""RFC 8288 Link headers as registries send them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire import ProtocolError, RegistryError
from regwire.sansio.links import Link, next_link, parse_links, render_link

BASE = "https://r.example/v2/a/b/tags/list?n=2"


def test_distribution_style_relative_link() -> None:
    header = '</v2/a/b/tags/list?last=t2&n=2>; rel="next"'
    assert parse_links(header) == [Link("/v2/a/b/tags/list?last=t2&n=2", ("next",), {})]
    assert next_link(header, BASE) == "https://r.example/v2/a/b/tags/list?last=t2&n=2"


def test_quay_style_link_relative_to_the_path() -> None:
    header = "<list?next_page=gAAAA&n=2>; rel=next"
    assert next_link(header, BASE) == "https://r.example/v2/a/b/tags/list?next_page=gAAAA&n=2"


def test_absolute_link_and_several_links() -> None:
    header = (
        '<https://other.example/first>; rel="first", '
        '<https://r.example/v2/x?last=z>; rel="prev next"; title="p, q"'
    )
    links = parse_links(header)
    assert links[1] == Link("https://r.example/v2/x?last=z", ("prev", "next"), {"title": "p, q"})
    assert next_link(header, BASE) == "https://r.example/v2/x?last=z"


def test_no_next() -> None:
    assert next_link(None, BASE) is None
    assert next_link('</x>; rel="prev"', BASE) is None
    assert next_link("", BASE) is None


@pytest.mark.parametrize("header", ['/x; rel="next"', '<x> rel="next"', "<x>; rel=next junk"])
def test_garbage_is_a_protocol_error(header: str) -> None:
    with pytest.raises(ProtocolError):
        parse_links(header)


targets = st.from_regex(r"\A/v2/[a-z]{1,5}/tags/list\?n=[0-9]{1,3}&last=[A-Za-z0-9_.-]{1,8}\Z")


@given(st.lists(st.tuples(targets, st.sampled_from(["next", "prev", "first", "last"])), max_size=4))
def test_rendered_links_parse_back(links: list[tuple[str, str]]) -> None:
    header = ", ".join(render_link(target, rel) for target, rel in links)
    assert [(link.target, link.rel) for link in parse_links(header)] == [
        (target, (rel,)) for target, rel in links
    ]
    expected = next((t for t, rel in links if rel == "next"), None)
    resolved = next_link(header, BASE)
    assert resolved == (None if expected is None else "https://r.example" + expected)


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_a_registry_error(text: str) -> None:
    try:
        parse_links(text)
    except RegistryError:
        pass
