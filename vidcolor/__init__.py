"""vidcolor: fast exemplar-based colorization of black-and-white video (Xu et al., CVPR 2020, extended).

The Python API (vidcolor/api.py), loaded on first use so that ``import vidcolor`` stays cheap (no torch):

- ``colorize_image(target, reference=None, **options)`` -> (H, W, 3) uint8 RGB of the target's size;
- ``colorize_video(source, output, refs=None, **options)`` -> the run's summary;
- ``Colorizer(size=256, device="auto", vgg=None, hints="match")``: the networks kept loaded for many calls
  (``.reference(images)``, ``.image(target, reference)``, ``.video(source, output, refs, ...)``);
- ``VidcolorError``: the one exception every problem with inputs, files, weights or the environment raises.
"""

from vidcolor.errors import VidcolorError

__version__ = "0.1.0"
__all__ = ["Colorizer", "VidcolorError", "colorize_image", "colorize_video"]
_API = {"Colorizer", "colorize_image", "colorize_video"}


def __getattr__(name: str):
    if name in _API:
        from vidcolor import api

        return getattr(api, name)
    raise AttributeError(f"module 'vidcolor' has no attribute {name!r}")
