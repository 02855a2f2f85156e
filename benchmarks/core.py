"""Workload 5: the core alone, beside h11's cost of parsing the same bytes.

We record the responses of one full Bearer-authenticated ``image_by_tag`` (manifest answered 401,
token, manifest, config) from the model registry, then time (a) the core consuming those
canned responses through `drive`, and (b) h11 parsing the same responses from raw HTTP/1.1
bytes, which every driver must pay anyway. The core is never the bottleneck if (a) < (b).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import h11

from regwire.sansio import Registry, Request, Response, drive
from regwire.testing import FakeClock, ModelRegistry


def _recorded() -> list[Response]:
    model = ModelRegistry("registry.test", auth="bearer")
    model.push_image(
        "library/app",
        "1",
        {
            "config": {
                "Labels": {f"l{i}": "v" * 40 for i in range(20)},
                "Env": [f"E{i}=x" for i in range(20)],
            }
        },
        [f"layer {i}".encode() for i in range(8)],
    )
    answers: list[Response] = []

    def record(intent: Any) -> Any:
        if isinstance(intent, Request):
            answers.append(model.handle(intent))
            return answers[-1]
        return None

    drive(Registry("registry.test", clock=FakeClock()).image_by_tag("library", "app", "1"), record)
    return answers


def _wire(response: Response) -> bytes:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.next_event()
    conn.next_event()
    headers = [*response.headers, ("Content-Length", str(len(response.body)))]
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [headers[-1]]
    return (
        (conn.send(h11.Response(status_code=response.status, headers=headers)) or b"")
        + (conn.send(h11.Data(data=response.body)) or b"")
        + (conn.send(h11.EndOfMessage()) or b"")
    )


def core_once(answers: list[Response]) -> None:
    it = iter(answers)
    drive(
        Registry("registry.test", clock=FakeClock()).image_by_tag("library", "app", "1"),
        lambda intent: next(it) if isinstance(intent, Request) else None,
    )


def h11_once(wires: list[bytes]) -> None:
    for wire in wires:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(wire)
        while True:
            event = conn.next_event()
            if isinstance(event, h11.EndOfMessage):
                break


def _time(fn: Any, arg: Any, iterations: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            fn(arg)
        samples.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(samples)


def run(iterations: int = 2000, repeats: int = 5) -> dict[str, float]:
    answers = _recorded()
    wires = [_wire(r) for r in answers]
    core = _time(core_once, answers, iterations, repeats)
    parse = _time(h11_once, wires, iterations, repeats)
    return {
        "requests": len(answers),
        "bytes": sum(map(len, wires)),
        "core_us": core,
        "h11_us": parse,
        "ratio": core / parse,
    }


def report(result: dict[str, float]) -> str:
    met = "met" if result["ratio"] < 1 else "missed"
    return (
        f"core: {result['core_us']:.1f} us per authed image_by_tag ({int(result['requests'])} "
        f"responses, {int(result['bytes'])} bytes); h11 parsing the same bytes: "
        f"{result['h11_us']:.1f} us; ratio {result['ratio']:.2f} (target < 1: {met})"
    )
