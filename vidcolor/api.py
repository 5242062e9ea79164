"""The Python API: colour a still or a video in one call, or keep the networks loaded for many calls.

    import vidcolor

    rgb = vidcolor.colorize_image("gray.png", reference="ref.jpg")        # (H, W, 3) uint8, the target's size
    summary = vidcolor.colorize_video("film.mp4", "film-colour.mp4", refs="ref.jpg")

    colorizer = vidcolor.Colorizer(size=256)          # networks loaded once, on first use
    ref = colorizer.reference(["ref-a.jpg", "ref-b.jpg"])   # statistics and cells computed once
    frames = [colorizer.image(path, ref) for path in paths]

Images in: a path, an (H, W, 3) RGB uint8 array or an (H, W) gray uint8 array; a colour target is reduced to its
luminance first. References: one image or a list (their colours pooled: each part of the target takes its colour
from whichever reference shows it best), or a ``Reference`` from ``Colorizer.reference``; none means automatic
colorization. Videos: ``refs`` is a path, as for ``vidcolor run --refs`` (an image, or a folder of images; files
named by frame index, such as ``ref_000240.png``, apply from that frame on).

Every problem with inputs, files, weights or the environment raises ``vidcolor.VidcolorError`` with a one-line
message (the command line prints exactly that message). The command line runs the same calls: the predictor
factory (chain/factory.py), the still reader and ``stream.video.run_video``.

Importing this module is cheap: torch and the networks load on the first call that needs them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidcolor.errors import VidcolorError

if TYPE_CHECKING:
    from vidcolor.chain.predictor import Predictor
    from vidcolor.chain.reference import Reference
    from vidcolor.stream.pipeline import Summary

ImageLike = str | os.PathLike | np.ndarray
MODEL_OPTIONS = ("size", "device", "vgg", "hints", "precision")


def _image(image: ImageLike, what: str, crop: bool) -> tuple[np.ndarray, str]:
    """A path or an array -> ((H, W, 3) uint8 RGB, a name for messages)."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise VidcolorError(f"{what}: an array must be uint8 (0..255), not {image.dtype}")
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 1:
            raise VidcolorError(f"{what}: an array must be (H, W, 3) RGB or (H, W) gray, not {image.shape}")
        return np.ascontiguousarray(image), what
    if not isinstance(image, str | os.PathLike):
        raise VidcolorError(f"{what}: give a path or a numpy array, not {type(image).__name__}")
    from vidcolor.io.image import read_image

    return read_image(image, crop=crop), Path(image).name


class Colorizer:
    """The networks loaded once (on first use) for many calls; references prepared once with ``reference``.

    ``size``: working size of the networks (short side, pixels; a multiple of 8, default 256); ``device``: auto,
    cpu, cuda or cuda:N; ``vgg``: the VGG19 weights file (else ``$VIDCOLOR_VGG`` or the user cache); ``hints``:
    match (default), match-frozen or transfer, as ``--hints`` on the command line; ``precision``: auto (bf16 where
    the CPU or GPU computes it natively, else fp32), fp32, bf16 or fp16 (CUDA).
    """

    def __init__(
        self,
        size: int = 256,
        device: str = "auto",
        vgg: str | None = None,
        hints: str = "match",
        precision: str = "auto",
    ) -> None:
        from vidcolor.chain.factory import predictor_factory

        self.size, self.device = size, device
        self._make = predictor_factory(vgg, device, size, hints, precision)  # size checked now, nothing loaded
        self._predictor: Predictor | None = None

    @property
    def predictor(self) -> Predictor:
        """The loaded chain (both sub-nets, the matcher and the refiner), built on first use."""
        if self._predictor is None:
            self._predictor = self._make(need_transfer=True)
        return self._predictor

    def _factory(self, **_ignored) -> Predictor:
        """The predictor for a video run: this object's, whatever the run would otherwise load."""
        return self.predictor

    def reference(self, images: ImageLike | Sequence[ImageLike]) -> Reference:
        """One reference image or several -> a prepared ``Reference`` (statistics and correspondence cells)."""
        from vidcolor.chain.reference import Reference
        from vidcolor.io.image import is_grayscale

        items = list(images) if isinstance(images, list | tuple) else [images]
        if not items:
            raise VidcolorError("reference: an empty list (give None for automatic colorization)")
        prepared = []
        for k, item in enumerate(items):
            rgb, name = _image(item, f"reference {k}" if len(items) > 1 else "reference", crop=True)
            if is_grayscale(rgb):
                raise VidcolorError(f"{name}: reference is grayscale: it carries no colour to transfer")
            prepared.append(self.predictor.prepare_reference(rgb, name))
        return Reference.combine(prepared)

    def image(self, target: ImageLike, reference: Any = None) -> np.ndarray:
        """Colour one still -> (H, W, 3) uint8 RGB of the target's size. ``reference``: None (automatic), an
        image, a list of images, or a ``Reference``."""
        from vidcolor.chain.reference import Reference

        rgb, _ = _image(target, "target", crop=False)
        if reference is not None and not isinstance(reference, Reference):
            reference = self.reference(reference)
        return self.predictor.colorize(rgb[None], reference)[0]

    def video(
        self,
        source: str | os.PathLike,
        output: str | os.PathLike,
        refs: str | os.PathLike | None = None,
        *,
        shots: str | os.PathLike | None = None,
        batch: int = 4,
        codec: str = "libx264",
        crf: int = 18,
        preset: str = "medium",
        propagate: bool = True,
        chunk_frames: int = 240,
        keyframe_span: int = 300,
        resume: bool = False,
        fresh: bool = False,
        start: str | float | None = None,
        duration: str | float | None = None,
        quiet: bool = True,
    ) -> Summary:
        """Colour a video file into ``output`` (.mp4, .mkv, .mov, .webm), keeping its audio, timing and metadata,
        exactly as ``vidcolor run`` does -> the run's ``Summary`` (frames, seconds, fps, streams kept).

        ``refs``: a reference image or a folder (frame-indexed names are keyframes: the frames between two coloured
        from both, stretches of up to ``keyframe_span`` frames); ``shots``: a shot file instead;
        ``start``/``duration``: a preview of that span (seconds, [HH:]MM:SS[.ms] or ``240f``)."""
        from vidcolor.io.encode import EncodeSettings
        from vidcolor.stream.pipeline import RunOptions
        from vidcolor.stream.timerange import parse_time
        from vidcolor.stream.video import run_video

        if shots is not None and refs is not None:
            raise VidcolorError("give shots (references inside) or refs, not both")
        for name, value, least in (
            ("batch", batch, 1),
            ("chunk_frames", chunk_frames, 1),
            ("keyframe_span", keyframe_span, 0),
        ):
            if not isinstance(value, int) or value < least:
                raise VidcolorError(f"{name}: a whole number of at least {least}, not {value!r}")
        options = RunOptions(batch, chunk_frames, EncodeSettings(codec, crf, preset), resume, fresh,
                             propagate=propagate, keyframe_span=keyframe_span)  # fmt: skip
        window = [None if t is None else parse_time(str(t), o) for t, o in ((start, "start"), (duration, "duration"))]
        return run_video(
            str(source),
            str(output),
            None if refs is None else str(refs),
            self._factory,
            options,
            quiet,
            None if shots is None else str(shots),
            start=window[0],
            duration=window[1],
        )


def _split(options: dict) -> tuple[dict, dict]:
    model = {k: options.pop(k) for k in MODEL_OPTIONS if k in options}
    return model, options


def colorize_image(target: ImageLike, reference: Any = None, **options) -> np.ndarray:
    """Colour one still image -> (H, W, 3) uint8 RGB of the target's size.

    ``target``: a path or an array ((H, W, 3) RGB or (H, W) gray, uint8); ``reference``: None (automatic
    colorization), an image (path or array) or a list of them. ``options``: ``Colorizer``'s (size=256,
    device="auto", vgg=None, hints="match"). Raises ``VidcolorError`` on any bad input."""
    model, rest = _split(dict(options))
    if rest:
        raise VidcolorError(f"colorize_image: unknown options {sorted(rest)} (known: {', '.join(MODEL_OPTIONS)})")
    return Colorizer(**model).image(target, reference)


def colorize_video(
    source: str | os.PathLike, output: str | os.PathLike, refs: str | os.PathLike | None = None, **options
) -> Summary:
    """Colour a video file into ``output`` -> the run's ``Summary``. ``options``: ``Colorizer``'s (size, device,
    vgg, hints, precision) and ``Colorizer.video``'s (shots, batch, codec, crf, preset, propagate, chunk_frames,
    keyframe_span, resume, fresh, start, duration, quiet). Raises ``VidcolorError`` on any bad input."""
    import inspect

    model, rest = _split(dict(options))
    known = set(inspect.signature(Colorizer.video).parameters) - {"self", "source", "output", "refs"}
    unknown = [k for k in rest if k not in known]
    if unknown:
        raise VidcolorError(f"colorize_video: unknown options {sorted(unknown)}")
    return Colorizer(**model).video(source, output, refs, **rest)
