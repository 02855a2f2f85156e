"""Every hostile-registry scenario, through every driver, ends as asserted and leaks nothing."""

from __future__ import annotations

import pytest

from tests.harness.drivers import DRIVERS
from tests.harness.scenarios import SCENARIOS, Scenario, run_scenario


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, driver: str) -> None:
    outcome = run_scenario(scenario, driver)
    assert outcome.problems == []
    expected = "ok" if scenario.expect is None else scenario.expect.__name__
    assert outcome.result == expected or isinstance(outcome.error, scenario.expect or ())
