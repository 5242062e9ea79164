"""Scale-out: one film sharded by shots over many workers, and film libraries as one job (Ray, optional)."""
