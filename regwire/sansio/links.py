"""RFC 8288 ``Link`` headers, as registries send them to page through tags and the catalog.

Registries send ``</v2/x/tags/list?n=100&last=b>; rel="next"``; Quay and GHCR send relative
targets, some send absolute ones. We parse every link-value, then resolve targets against the URL
of the request that carried the header (RFC 3986 section 5), which `next_link` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin

from .errors import ProtocolError

__all__ = ["Link", "next_link", "parse_links", "render_link"]

_TARGET = re.compile(r"[ \t]*<([^>]*)>")
_PARAM = re.compile(
    r"""[ \t]*;[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+\*?)[ \t]*"""
    r"""(?:=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([!#$%&'*+\-.^_`|~0-9A-Za-z]+)))?""",
    re.DOTALL,
)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Link:
    """One link-value: its target as written, its relation types, and its other parameters."""

    target: str
    rel: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict, hash=False)


def parse_links(header: str | Iterable[str]) -> list[Link]:
    """Parse one ``Link`` header, or several header lines, into links in order.

    Raises:
        ProtocolError: the header is not a list of ``<target>; param=value`` elements.
    """
    if not isinstance(header, str):
        header = ", ".join(header)
    links: list[Link] = []
    pos = 0
    while True:
        while pos < len(header) and header[pos] in " \t,":
            pos += 1
        if pos >= len(header):
            return links
        target = _TARGET.match(header, pos)
        if not target:
            raise ProtocolError("Link", f"expected '<target>' at position {pos} of {header!r}")
        pos = target.end()
        params: dict[str, str] = {}
        rel: tuple[str, ...] = ()
        while True:
            param = _PARAM.match(header, pos)
            if not param:
                break
            pos = param.end()
            name = param.group(1).lower()
            if param.group(2) is not None:
                value = _UNESCAPE.sub(r"\1", param.group(2))
            else:
                value = param.group(3) or ""
            if name == "rel":
                if not rel:  # RFC 8288 3.3: only the first rel counts
                    rel = tuple(value.lower().split())
            else:
                params.setdefault(name, value)
        while pos < len(header) and header[pos] in " \t":
            pos += 1
        if pos < len(header) and header[pos] != ",":
            raise ProtocolError("Link", f"expected ',' at position {pos} of {header!r}")
        links.append(Link(target.group(1).strip(), rel, params))


def next_link(header: str | Iterable[str] | None, base_url: str) -> str | None:
    """The absolute URL of the ``rel="next"`` link, resolved against ``base_url``, or None."""
    if header is None:
        return None
    for link in parse_links(header):
        if "next" in link.rel:
            return urljoin(base_url, link.target)
    return None


def render_link(target: str, rel: str = "next", **params: str) -> str:
    """Render a link-value as registries do: ``<target>; rel="next"``."""
    parts = [f"<{target}>", f'rel="{rel}"']
    parts += [f'{k}="{v}"' for k, v in params.items()]
    return "; ".join(parts)
