"""Filtering a repository's tag list: whole-tag regular expressions, semver ranges, digest tags.

Theory of operation. `TagFilter` is built once from what a caller asked for (validated there, so
that a bad expression or range is an `InvalidFilter` before any request) and then applied to a
tag list as a pure function: it keeps the registry's order and never adds a tag.

``include``/``exclude`` match the WHOLE tag (`re.fullmatch`), as regctl's ``tag ls --include``
does, so that ``v1`` does not also select ``v10`` or ``v1-rc``; skopeo sync's
``images-by-tag-regex`` searches instead (`re.search`): anchor with ``.*`` for that behaviour.
A tag that matches ``exclude`` goes even if it matches ``include``. ``semver`` is a constraint in
the syntax of `regwire.sansio.semver` (the one sync's ``images-by-semver`` reads).
``omit_digest_tags``
drops the tags tools derive from a digest rather than name a release: cosign's
``sha256-<hex>.sig``/``.att``/``.sbom`` and the referrers fallback ``sha256-<hex>``
(distribution spec v1.1, "Referrers Tag Schema").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidFilter
from .semver import Constraint

__all__ = ["DIGEST_TAG", "InvalidFilter", "TagFilter", "filter_tags", "is_digest_tag"]

DIGEST_TAG = re.compile(r"sha256-[0-9a-f]{64}(?:\.sig|\.att|\.sbom)?")
"""A tag derived from a digest: cosign's attachments and the referrers fallback tag."""


def is_digest_tag(tag: str) -> bool:
    """Whether ``tag`` is ``sha256-<64 hex>`` with an optional ``.sig``/``.att``/``.sbom``."""
    return DIGEST_TAG.fullmatch(tag) is not None


def _compile(option: str, text: str | None) -> re.Pattern[str] | None:
    if text is None:
        return None
    try:
        return re.compile(text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise InvalidFilter(option, text, str(exc)) from exc


@dataclass(frozen=True, slots=True)
class TagFilter:
    """Which tags to keep. Build it with `TagFilter.of`, which validates everything."""

    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    semver: Constraint | None = None
    omit_digest_tags: bool = False

    @classmethod
    def of(
        cls,
        *,
        include: str | None = None,
        exclude: str | None = None,
        semver: str | None = None,
        omit_digest_tags: bool = False,
    ) -> TagFilter:
        """A filter from the caller's texts.

        Raises:
            InvalidFilter: a regular expression or semver constraint that does not parse.
        """
        constraint = None
        if semver is not None:
            try:
                constraint = Constraint.parse(semver)
            except (ValueError, IndexError) as exc:
                raise InvalidFilter("semver constraint", semver, str(exc)) from exc
        return cls(
            _compile("include expression", include),
            _compile("exclude expression", exclude),
            constraint,
            omit_digest_tags,
        )

    @property
    def is_everything(self) -> bool:
        """Whether the filter keeps every tag (nothing was asked for)."""
        return self == TagFilter()

    def keeps(self, tag: str) -> bool:
        """Whether ``tag`` passes every part of the filter."""
        if self.omit_digest_tags and is_digest_tag(tag):
            return False
        if self.include is not None and self.include.fullmatch(tag) is None:
            return False
        if self.exclude is not None and self.exclude.fullmatch(tag) is not None:
            return False
        return self.semver is None or self.semver.admits(tag)

    def apply(self, tags: Iterable[str]) -> list[str]:
        """The tags the filter keeps, in their order."""
        return [tag for tag in tags if self.keeps(tag)]


def filter_tags(
    tags: Iterable[str],
    *,
    include: str | None = None,
    exclude: str | None = None,
    semver: str | None = None,
    omit_digest_tags: bool = False,
) -> list[str]:
    """``tags`` filtered (see the module's docstring), in their order.

    Raises:
        InvalidFilter: a regular expression or semver constraint that does not parse.
    """
    chosen = TagFilter.of(
        include=include, exclude=exclude, semver=semver, omit_digest_tags=omit_digest_tags
    )
    return chosen.apply(tags)
