"""Reproducible benchmarks for regwire; ``python -m benchmarks`` runs them."""
