"""Every hostile write scenario, through every driver, ends as asserted and leaks nothing."""

from __future__ import annotations

import pytest

from tests.harness.drivers import DRIVERS
from tests.harness.scenarios import Scenario, run_scenario
from tests.harness.write_scenarios import WRITE_SCENARIOS


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("scenario", WRITE_SCENARIOS, ids=[s.name for s in WRITE_SCENARIOS])
def test_write_scenario(scenario: Scenario, driver: str) -> None:
    outcome = run_scenario(scenario, driver)
    assert outcome.problems == []
    expected = "ok" if scenario.expect is None else scenario.expect.__name__
    assert outcome.result == expected or isinstance(outcome.error, scenario.expect or ())
