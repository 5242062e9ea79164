"""`vidcolor review`: a shot review page people open in a browser (gather.py, build.py, page.py, page.html).
May import stream, shots, chain, models, weights, io and the root leaves; never cli.
"""
