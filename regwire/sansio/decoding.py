"""Decoding what registries send, in one place: JSON bodies and RFC 3339 times.

Every failure (bad UTF-8, syntax, depth, a time out of range) becomes a `ProtocolError` that
names the URL and what was being read; nothing else escapes from a registry's bytes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ProtocolError

__all__ = ["decode_json", "parse_time"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))?\Z"
)


def decode_json(raw: bytes, url: str, what: str) -> Any:
    """Decode a JSON body, turning every failure (bad UTF-8, syntax, depth) into ProtocolError."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProtocolError(url, f"{what} is not UTF-8: {exc}") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:  # the C decoder's own depth guard
        raise ProtocolError(url, f"{what} nests too deeply to decode") from exc
    except ValueError as exc:
        raise ProtocolError(url, f"{what} is not valid JSON: {exc}") from exc


def parse_time(text: str, url: str = "", what: str = "time") -> datetime:
    """Parse an RFC 3339 time (nanoseconds allowed, as Go writes them) into an aware UTC datetime.

    A time without an offset is taken as UTC, which is what Docker meant by it.
    """
    match = _RFC3339.match(text.strip())
    if not match:
        raise ProtocolError(url, f"{what} {text[:64]!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = match.groups()
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),
            int((frac or "0")[:6].ljust(6, "0")),
            tzinfo=timezone.utc,
        )
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            value = value - offset if sign == "+" else value + offset
    except (ValueError, OverflowError) as exc:
        raise ProtocolError(url, f"{what} {text[:64]!r} is out of range: {exc}") from exc
    return value
