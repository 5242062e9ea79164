"""Measuring instruments: quality metrics (pure), the eval runner and the bench runner.
May import stream, shots, chain, models, weights, io and the root leaves; never cli.
"""
