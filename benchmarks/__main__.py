"""``python -m benchmarks [--quick]``: run the benchmarks and print their results."""

from __future__ import annotations

import platform
import sys

from benchmarks import core


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    print(core.report(core.run(iterations=50 if quick else 2000, repeats=1 if quick else 7)))
    return 0


sys.exit(main(sys.argv[1:]))
