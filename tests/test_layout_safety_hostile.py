"""A smoke run of ``benchmarks.hostile_layouts``: every hostile-layout scenario with the
blocking driver ends as expected (a `LayoutError`), within a second or two, and nothing outside
the layout is read or written (`run_layout_scenario` asserts that itself)."""

from __future__ import annotations

import pytest

from benchmarks.hostile_layouts import LAYOUT_SCENARIOS, LayoutScenario, run_layout_scenario


@pytest.mark.parametrize("scenario", LAYOUT_SCENARIOS, ids=lambda s: s.name)
def test_every_hostile_layout_scenario_with_the_blocking_driver(scenario: LayoutScenario) -> None:
    outcome, seconds = run_layout_scenario(scenario, "sync")
    assert outcome == scenario.expect
    assert seconds < 2
