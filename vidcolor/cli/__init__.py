"""The command line (`vidcolor ...`): click commands that parse and check their options, then delegate (commands.py,
options.py); no colour logic here. The top layer: may import every other part of vidcolor, lazily where it needs torch.
"""
