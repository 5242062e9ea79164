"""Shots: cut detection, the shot files people edit, which reference colours which frame (refs.py) and each
shot's choice of reference, and the `vidcolor shots` job. `run` uses them inline, so shots sits below stream:
may import chain, models, weights, io and the root leaves; never stream or anything above it.
"""
