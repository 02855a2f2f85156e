"""regwire's core over httpx: a blocking and an async driver (a docs example)."""

from __future__ import annotations

from typing import Any

import httpx

from regwire.sansio import (
    BodyChunk,
    ConnectionFailed,
    Operation,
    ReadBody,
    Request,
    Response,
    Sleep,
)


def _failure(exc: httpx.HTTPError) -> ConnectionFailed:
    reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "reset"
    if isinstance(exc, httpx.ConnectError):
        reason = "refused"
    return ConnectionFailed(reason, str(exc))


def _bounded(pieces: Any, limit: int) -> bytes:
    """The body, read no further than one piece past ``limit`` (the core's bound)."""
    body = b""
    for piece in pieces:
        body += piece
        if len(body) > limit:
            break
    return body


def run(operation: Operation[Any], client: httpx.Client | None = None) -> Any:
    """Drive ``operation`` to its end with a blocking httpx client."""
    # The core follows redirects itself: it decides where credentials may go.
    client = client or httpx.Client(follow_redirects=False)
    streams: dict[int, Any] = {}
    event: Any = None
    while True:
        try:
            intent = operation.send(event)
        except StopIteration as done:
            return done.value
        if isinstance(intent, Sleep):
            event = None
        elif isinstance(intent, ReadBody):
            event = BodyChunk(next(streams[intent.channel], b""))
        elif isinstance(intent, Request):
            try:
                sent = list(intent.headers)
                request = client.build_request(
                    intent.method, intent.url, headers=sent, content=intent.body
                )
                answer = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                event = _failure(exc)
                continue
            headers = tuple(answer.headers.multi_items())
            if intent.stream and intent.method != "HEAD":
                streams[intent.channel] = answer.iter_raw(64 * 1024)
                event = Response(answer.status_code, headers, pending=True)
            else:
                body = _bounded(answer.iter_raw(), intent.max_body)
                answer.close()
                event = Response(
                    answer.status_code,
                    headers,
                    body[: intent.max_body],
                    truncated=len(body) > intent.max_body,
                )
        else:
            name = type(intent).__name__
            raise NotImplementedError(f"this small driver does not do {name}")


async def run_async(
    operation: Operation[Any],
    client: httpx.AsyncClient | None = None,
) -> Any:
    """The same loop, awaited, with httpx's async client."""
    client = client or httpx.AsyncClient(follow_redirects=False)
    streams: dict[int, Any] = {}
    event: Any = None
    async with client:
        while True:
            try:
                intent = operation.send(event)
            except StopIteration as done:
                return done.value
            if isinstance(intent, Sleep):
                event = None
            elif isinstance(intent, ReadBody):
                event = BodyChunk(await anext(streams[intent.channel], b""))
            elif isinstance(intent, Request):
                try:
                    sent = list(intent.headers)
                    request = client.build_request(
                        intent.method, intent.url, headers=sent, content=intent.body
                    )
                    answer = await client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    event = _failure(exc)
                    continue
                headers = tuple(answer.headers.multi_items())
                if intent.stream and intent.method != "HEAD":
                    streams[intent.channel] = answer.aiter_raw(64 * 1024)
                    event = Response(answer.status_code, headers, pending=True)
                else:
                    body = b""
                    async for piece in answer.aiter_raw():
                        body += piece
                        # never read past what the core bounds
                        if len(body) > intent.max_body:
                            break
                    await answer.aclose()
                    event = Response(
                        answer.status_code,
                        headers,
                        body[: intent.max_body],
                        truncated=len(body) > intent.max_body,
                    )
            else:
                name = type(intent).__name__
                raise NotImplementedError(f"this small driver does not do {name}")
