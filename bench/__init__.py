"""Benchmarks, run by `make bench`. Each one prints its cost as a ratio to a
baseline measured in the same run on the same machine, so the numbers are
comparable across machines and never asserted in tests."""
