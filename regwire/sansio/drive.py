"""The reference driver loop: the whole contract between an operation and an I/O layer."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from .events import Event, Intent, Joined, Operation, Parallel

__all__ = ["drive", "outcome"]

T = TypeVar("T")


def drive(
    operation: Operation[T],
    perform: Callable[[Intent], Event],
    parallel: Callable[[Parallel], Joined] | None = None,
) -> T:
    """Run ``operation`` to completion, performing each intent with ``perform``.

    ``perform`` answers a `Request` with a `Response` or `ConnectionFailed`, and a `Sleep` with
    None. The operation's return value is returned; its errors propagate. A `Parallel` goes to
    ``parallel`` (a driver that runs its operations at once, in threads say); without one it
    is run here, its operations one after another.
    """
    event: Event = None
    while True:
        try:
            intent = operation.send(event)
        except StopIteration as done:
            result: T = done.value
            return result
        if isinstance(intent, Parallel):
            if parallel is not None:
                event = parallel(intent)
            else:
                ops = intent.operations
                event = Joined(tuple(outcome(partial(drive, op, perform)) for op in ops))
        else:
            event = perform(intent)


def outcome(run: Callable[[], object]) -> object:
    """What `Joined` holds for one operation: its result, or the exception it raised."""
    try:
        return run()
    except Exception as exc:
        return exc
