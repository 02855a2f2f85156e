"""A smoke run of each benchmark, so that they cannot rot (no timing is asserted)."""

from __future__ import annotations

from benchmarks import core


def test_core_benchmark_runs() -> None:
    result = core.run(iterations=3, repeats=1)
    assert result["requests"] == 4  # probe, token, manifest, config: no wasted 401
    assert result["core_us"] > 0 and result["h11_us"] > 0
    assert "us per authed image_by_tag" in core.report(result)
