"""The test suite's own harness: hostile scenarios, the real registry, driver shims.

Kept out of the installed package (`regwire.testing` holds what users' tests use); the
benchmarks import it too, run from the repository's root.
"""
