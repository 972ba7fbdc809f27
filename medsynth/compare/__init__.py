"""The compare stage: uncertainty, paired tests and rankings of the benchmark's methods.

It reads only the per-subject metrics table, never images, so evaluation stays what it is:
every number here is a statistic of the values evaluation already wrote.
"""
