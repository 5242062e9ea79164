"""Moving frames through the chain: `run`'s decoder and model stages and the pipeline that joins them to the encoder,
the work folder that lets a run resume, time ranges, single-frame previews, and the run and still-image jobs.
May import shots, chain, models, weights, io and the root leaves; never review, scale, evaluate or cli.
"""
