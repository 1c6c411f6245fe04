"""Benchmarks: `python -m bench` (or `make bench`) runs every one of them."""
