"""Synthetic trial data: a whole trial written as the services would (``trial``) and random lab
results over every graded test and unit (``labs``), for the benchmarks, the tests and trying the
pages at a realistic size."""
