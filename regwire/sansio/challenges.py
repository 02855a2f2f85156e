"""``WWW-Authenticate`` challenges (RFC 7235 section 4.1), parsed strictly but forgivingly.

Theory of operation: a header is a comma-separated list whose elements are either a new
challenge (``scheme`` then a space) or a parameter of the current one (``name=value``), and the
grammar lets several challenges share one header. So we scan tokens left to right, and after
each comma look ahead: ``token BWS "="`` continues the current challenge's parameters; a bare
token starts the next challenge. Empty list elements and stray whitespace are skipped, as the
RFC's list rule asks. Anything else is a `ProtocolError` that names the position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ProtocolError

__all__ = ["Challenge", "parse_challenges", "render_challenge"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_WS = re.compile(r"[ \t]*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_TOKEN_ONLY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_SIMPLE_PARAM = re.compile(r'([A-Za-z_]+)="([^"\\]*)"')
_SIMPLE = re.compile(
    r'[ \t]*([A-Za-z]+) ((?:[A-Za-z_]+="[^"\\]*"[ \t]*,[ \t]*)*[A-Za-z_]+="[^"\\]*")[ \t]*\Z'
)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: ``scheme`` lower-cased, ``params`` with lower-cased keys, or a ``token68``."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict, hash=False)
    token68: str | None = None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def fail(self, what: str) -> ProtocolError:
        return ProtocolError(
            "WWW-Authenticate", f"{what} at position {self.pos} of {self.text[:200]!r}"
        )

    def skip(self, pattern: re.Pattern[str] = _WS) -> None:
        match = pattern.match(self.text, self.pos)
        if match:
            self.pos = match.end()

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        return match

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_list_separators(self) -> None:
        while True:
            self.skip()
            if self.peek() != ",":
                return
            self.pos += 1

    def at_param(self) -> bool:
        """Whether a ``token BWS "="`` follows that is a parameter, not a token68 ending."""
        match = _TOKEN.match(self.text, self.pos)
        if not match:
            return False
        after = _WS.match(self.text, match.end())
        end = after.end() if after else match.end()
        if self.text[end : end + 1] != "=":
            return False
        # token68 "abc==" ends in '='s followed by a separator; a parameter has a value.
        rest = _WS.match(self.text, end + 1)
        value_at = rest.end() if rest else end + 1
        nxt = self.text[value_at : value_at + 1]
        return nxt not in ("", ",", "=")

    def value(self) -> str:
        quoted = self.take(_QUOTED)
        if quoted:
            return _UNESCAPE.sub(r"\1", quoted.group(1))
        token = self.take(_TOKEN)
        if token:
            return token.group(0)
        raise self.fail("expected a token or quoted string")


def parse_challenges(header: str | Iterable[str]) -> list[Challenge]:
    """Parse one ``WWW-Authenticate`` header, or several header lines, into challenges.

    Raises:
        ProtocolError: the header breaks the RFC 7235 grammar.
    """
    if not isinstance(header, str):
        header = ", ".join(header)
    simple = _SIMPLE.match(header)
    if simple:  # what registries send: one challenge, quoted values without escapes
        found = {key.lower(): value for key, value in _SIMPLE_PARAM.findall(simple.group(2))}
        return [Challenge(simple.group(1).lower(), found, None)]
    scanner = _Scanner(header)
    challenges: list[Challenge] = []
    while True:
        scanner.skip_list_separators()
        if scanner.at_end():
            return challenges
        scheme = scanner.take(_TOKEN)
        if not scheme:
            raise scanner.fail("expected an auth scheme")
        if scanner.peek() not in ("", " ", "\t", ","):
            raise scanner.fail("expected a space after the auth scheme")
        spaced = scanner.peek() in (" ", "\t")
        scanner.skip()
        if spaced and scanner.peek() == ",":
            # ``#auth-param`` may open with empty list elements: ``Basic , realm="x"``.
            start = scanner.pos
            scanner.skip_list_separators()
            if not scanner.at_param():
                scanner.pos = start
        params: dict[str, str] = {}
        token68: str | None = None
        if not scanner.at_param():
            start = scanner.pos
            match = scanner.take(_TOKEN68)
            if match:
                scanner.skip()
                if scanner.peek() in ("", ","):
                    token68 = match.group(0)
                else:
                    scanner.pos = start
        while token68 is None and scanner.at_param():
            name = scanner.take(_TOKEN)
            assert name is not None  # at_param() saw it
            scanner.skip()
            scanner.pos += 1  # the "="
            scanner.skip()
            params[name.group(0).lower()] = scanner.value()
            scanner.skip()
            if scanner.at_end():
                break
            if scanner.peek() != ",":
                raise scanner.fail("expected ',' between parameters")
            scanner.skip_list_separators()
        challenges.append(Challenge(scheme.group(0).lower(), params, token68))
        if not params:
            # A bare scheme or a token68 ends its list element: only a comma may follow.
            scanner.skip()
            if not scanner.at_end() and scanner.peek() != ",":
                raise scanner.fail("expected ',' after the challenge")


def render_challenge(scheme: str, params: dict[str, str]) -> str:
    """Render a challenge as a server would, quoting every value that is not a bare token."""

    def quote(value: str) -> str:
        if _TOKEN_ONLY.match(value):
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rendered = ", ".join(f"{key}={quote(value)}" for key, value in params.items())
    return f"{scheme} {rendered}" if rendered else scheme
