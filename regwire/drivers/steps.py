"""The steps of a client operation's plan: what a blocking and an async runner each carry out.

A client operation (`regwire.drivers.operations`) is a generator, a `Plan`, that yields these
steps and is resumed with each one's result (or has its failure thrown in). They name what must
be waited for, never how: the blocking client waits in its thread, the async clients on their
event loop or in a worker thread. That is the one thing the two concurrency models decide, so
it is the one thing the runners hold; everything else about an operation is its plan's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from ..sansio.events import Operation
from ..sansio.registry import Registry

__all__ = ["Blocking", "Find", "Plan", "Run", "Step", "Together"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Run:
    """Run a core ``operation`` over the client's connections; resume with its result.

    ``registry`` and ``repository`` say what it works on, so that the blocking client's threads
    starting together on one repository take turns until its token is fetched (`Client.run`).
    ``source`` is what its `ReadSource` intents read, as the caller gave it (bytes excepted);
    ``sink`` the file a download writes to (`RestartSink`). ``files``: the operation's generator
    itself reads or writes files (an OCI layout's, a pulled artifact's), so an async client
    advances it in a worker thread instead of on its event loop.
    """

    operation: Operation[Any]
    registry: Registry | None = None
    repository: str | None = None
    source: object = None
    sink: object = None
    files: bool = False


@dataclass(frozen=True, slots=True)
class Find:
    """The client's shared `Registry` for a host (`ClientCore.registry`); resume with it.

    Finding it may run a credential helper (a process), so an async client looks the
    credentials up in a worker thread. ``named``: whether the caller's credentials belong there.
    """

    name: str
    insecure: bool | None = None
    named: bool = True


@dataclass(frozen=True, slots=True)
class Blocking:
    """Call ``function`` (file I/O); resume with what it returns. Inline for the blocking
    client, in a worker thread for the async ones: a slow disk never stalls an event loop."""

    function: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class Together:
    """Carry out several ``plans`` at once, at most ``limit`` at a time; resume with their
    results in order. The blocking client runs them in threads (in turn if ``limit`` is 1),
    the async ones as tasks. A plan that fails fails the step."""

    plans: tuple[Plan[Any], ...]
    limit: int


Step: TypeAlias = Run | Find | Blocking | Together
Plan: TypeAlias = Generator[Step, Any, T]
