"""``python -m benchmarks.hostile``: every hostile scenario (reads, then writes, then
registries.conf sending the client to mirrors and other hosts, then hostile OCI layouts) through
every driver, as tables.

Prints the markdown table the README holds: per scenario, the outcome for each driver and the
worst time any driver took to reach it (client timeout 0.5 s, default retry limits unless the
scenario sets its own).
"""

from __future__ import annotations

import sys

from benchmarks import hostile_layouts
from benchmarks.hostile_mirrors import MIRROR_SCENARIOS, run_mirror_scenario
from tests.harness.drivers import DRIVERS
from tests.harness.scenarios import SCENARIOS, run_scenario
from tests.harness.write_scenarios import WRITE_SCENARIOS


def main() -> int:
    failures = 0
    print("| scenario | expected | " + " | ".join(DRIVERS) + " | worst time |")
    print("|---|---|" + "---|" * len(DRIVERS) + "---|")
    everything = (*SCENARIOS, *WRITE_SCENARIOS)
    for scenario in everything:
        outcomes = [run_scenario(scenario, driver) for driver in DRIVERS]
        failures += sum(bool(o.problems) for o in outcomes)
        cells = [o.result + ("" if not o.problems else " (FAILED)") for o in outcomes]
        expected = "ok" if scenario.expect is None else scenario.expect.__name__
        worst = max(o.seconds for o in outcomes)
        print(f"| {scenario.name} | {expected} | " + " | ".join(cells) + f" | {worst:.2f} s |")
        sys.stdout.flush()
    print(f"\n{len(everything)} scenarios x {len(DRIVERS)} drivers, {failures} failed")
    failures += _mirrors()
    print()
    failures += hostile_layouts.main()
    return 1 if failures else 0


def _mirrors() -> int:
    """The mirror-credential table: a password never reaches a host the caller did not name."""
    failures = 0
    print("\n| registries.conf scenario | expected | " + " | ".join(DRIVERS) + " | worst time |")
    print("|---|---|" + "---|" * len(DRIVERS) + "---|")
    for scenario in MIRROR_SCENARIOS:
        outcomes = [run_mirror_scenario(scenario, driver) for driver in DRIVERS]
        failures += sum(bool(o.problems) for o in outcomes)
        cells = [o.result + ("" if not o.problems else " (FAILED)") for o in outcomes]
        worst = max(o.seconds for o in outcomes)
        print(
            f"| {scenario.name} | {scenario.expect} | " + " | ".join(cells) + f" | {worst:.2f} s |"
        )
        sys.stdout.flush()
    print(f"\n{len(MIRROR_SCENARIOS)} scenarios x {len(DRIVERS)} drivers, {failures} failed")
    return failures


if __name__ == "__main__":
    sys.exit(main())
