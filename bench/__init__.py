"""Benchmarks: `python -m bench` prints side-by-side ratios; they are figures, not tests."""
