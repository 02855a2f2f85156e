"""Token scopes (Docker token spec, "Token Scope Documentation") as values.

A scope names a resource and the actions wanted on it: ``repository:team/app:pull``,
``repository:team/app:push,pull``, ``registry:catalog:*``. Operations say what they need with
these values; a request may need several (a mount pulls from one repository and pushes to
another), and a cached token is good for a request when, for every resource, it was granted a
superset of the actions. Push is listed before pull when both are wanted: some registries read
only the first action of a scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ACTION_ORDER", "Scope", "Scopes", "catalog", "delete", "parse_scopes", "pull", "push"]

ACTION_ORDER = ("push", "pull", "delete", "*")


@dataclass(frozen=True, slots=True)
class Scope:
    """One resource and the actions wanted on it."""

    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        ordered = sorted(self.actions, key=lambda a: (*ACTION_ORDER, a).index(a))
        return f"{self.type}:{self.name}:{','.join(ordered)}"


Scopes = frozenset[Scope]


def pull(repository: str) -> Scopes:
    return frozenset({Scope("repository", repository, frozenset({"pull"}))})


def push(repository: str) -> Scopes:
    """Push and pull: an upload answers 401 to a push-only token on many registries."""
    return frozenset({Scope("repository", repository, frozenset({"push", "pull"}))})


def delete(repository: str) -> Scopes:
    """Distribution asks for ``delete`` on DELETE; pull comes with it for the HEAD before."""
    return frozenset({Scope("repository", repository, frozenset({"delete", "pull"}))})


def catalog() -> Scopes:
    return frozenset({Scope("registry", "catalog", frozenset({"*"}))})


def merge(*groups: Iterable[Scope]) -> Scopes:
    """The union of scopes, one entry per resource with every action wanted on it."""
    actions: dict[tuple[str, str], set[str]] = {}
    for group in groups:
        for scope in group:
            actions.setdefault((scope.type, scope.name), set()).update(scope.actions)
    return frozenset(Scope(t, n, frozenset(a)) for (t, n), a in actions.items())


def covers(granted: Scopes, wanted: Scopes) -> bool:
    """Whether a token granted ``granted`` is good for ``wanted``."""
    have = {(s.type, s.name): s.actions for s in granted}
    return all((s.type, s.name) in have and s.actions <= have[(s.type, s.name)] for s in wanted)


def parse_scopes(text: str) -> Scopes:
    """The scopes of a challenge's ``scope=`` parameter (space-separated), ignoring garbage.

    A repository name holds no ``:`` but a registry host in a name may (``host:5000/app``
    never appears in scopes, whose names are repository paths), so we split from both ends.
    """
    found: list[Scope] = []
    for item in text.split():
        kind, sep, rest = item.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if sep and sep2 and kind and name and actions:
            found.append(Scope(kind, name, frozenset(a for a in actions.split(",") if a)))
    return merge(found)
