"""vidcolor: fast exemplar-based colorization of black-and-white video (Xu et al., CVPR 2020, extended)."""

__version__ = "0.1.0"
