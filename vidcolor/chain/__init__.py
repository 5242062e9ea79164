"""The per-batch colour chain at working size: the predictor, its hint sources and refinements, matching, the
propagation along the motion and the chroma maths; tensors in, tensors out, no media I/O, no threads.
May import models, weights, io and the root leaves (errors, config, color); never shots, stream or anything above.
"""
