"""Throughput benchmarks (``make bench``): one JSON line per figure. Never run by the tests."""
