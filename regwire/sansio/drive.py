"""The reference driver loop: the whole contract between an operation and an I/O layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .events import Event, Intent, Operation

__all__ = ["drive"]

T = TypeVar("T")


def drive(operation: Operation[T], perform: Callable[[Intent], Event]) -> T:
    """Run ``operation`` to completion, performing each intent with ``perform``.

    ``perform`` answers a `Request` with a `Response` or `ConnectionFailed`, and a `Sleep` with
    None. The operation's return value is returned; its errors propagate.
    """
    event: Event = None
    while True:
        try:
            intent = operation.send(event)
        except StopIteration as done:
            result: T = done.value
            return result
        event = perform(intent)
