"""Scale-out: one film sharded by shots over many workers, and film libraries as one job (Ray, optional).
May import stream, shots, chain, models, weights, io and the root leaves; never cli.
"""
