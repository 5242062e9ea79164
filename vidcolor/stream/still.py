"""Still-image jobs: colorize targets from one reference, and stylize (transfer sub-net alone).

Every input is checked and every output path planned before any network is built, so a bad argument fails
in a fraction of a second and nothing is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vidcolor.errors import VidcolorError
from vidcolor.io.image import WRITE_FORMATS, check_image, is_grayscale, read_image, upright, write_format, write_image
from vidcolor.io.paths import refuse_overwrite
from vidcolor.stream.timerange import TimeSpec

if TYPE_CHECKING:
    from vidcolor.chain.predictor import Predictor


def plan_outputs(targets: list[Path], out: Path) -> list[Path]:
    """One target: ``out`` is the file (or an existing folder to write into). Several: ``out`` is a folder."""
    if len(targets) == 1 and not out.is_dir():
        write_format(out)
        return [out]
    if out.exists() and not out.is_dir():
        raise VidcolorError(f"{out}: several targets need an output folder, and this is a file")
    outputs = []
    for t in targets:
        suffix = t.suffix.lower() if t.suffix.lower() in WRITE_FORMATS else ".png"
        outputs.append(out / f"{t.stem}{suffix}")
    seen: dict[Path, Path] = {}
    for t, o in zip(targets, outputs, strict=True):
        if o in seen:
            raise VidcolorError(f"{t}: same output name {o.name} as {seen[o]}; colorize them into separate folders")
        seen[o] = t
    return outputs


def load_reference_image(ref: Path) -> tuple:
    image = read_image(ref)
    if is_grayscale(image):
        raise VidcolorError(
            f"{ref}: reference is grayscale: it carries no colour to transfer (omit --ref for automatic colorization)"
        )
    return image


def colorize_images(
    targets: list[str], ref: str | None, out: str, make_predictor: Callable[..., Predictor], quiet: bool = False
) -> list[Path]:
    target_paths = [check_image(t) for t in targets]
    ref_path = check_image(ref) if ref else None
    out_path = Path(out)
    outputs = plan_outputs(target_paths, out_path)
    refuse_overwrite(target_paths + ([ref_path] if ref_path else []), outputs)
    ref_image = load_reference_image(ref_path) if ref_path else None
    if len(target_paths) > 1:
        try:
            out_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidcolorError(f"{out_path}: cannot create the output folder ({exc.strerror or exc})") from None

    predictor = make_predictor(need_transfer=ref_path is not None)
    reference = predictor.prepare_reference(ref_image, ref_path.name) if ref_image is not None else None
    for t, o in zip(target_paths, outputs, strict=True):
        rgb = predictor.colorize(read_image(t, crop=False)[None], reference)[0]
        write_image(o, rgb)
        if not quiet:
            print(f"{t} -> {o}", file=sys.stderr)
    return outputs


def colorize_frame(
    video: str,
    at: TimeSpec,
    ref: str | None,
    out: str,
    make_predictor: Callable[..., Predictor],
    quiet: bool = False,
) -> Path:
    """The frame of ``video`` at ``at`` coloured as `run` colours it (its luma plane kept), found by seeking."""
    from vidcolor.io.media import probe
    from vidcolor.io.seek import frame_seconds, frames_at, pts_at
    from vidcolor.io.yuv import frame_luma, plan_planar
    from vidcolor.stream.timerange import resolve_window

    src, out_path = Path(video), Path(out)
    info = probe(src)
    times = frame_seconds(info, at)
    index = resolve_window(str(src), info.frames, info.rate, at, None, "--frame", times).first
    exact = [pts_at(info, times[index])] if times else None  # the frame's own timestamp (variable frame rate)
    write_format(out_path)
    ref_path = check_image(ref) if ref else None
    refuse_overwrite([src] + ([ref_path] if ref_path else []), [out_path])
    if ref_path:
        load_reference_image(ref_path)  # grayscale references refused before the networks load
    fmt = plan_planar(info, "libx264")
    found = list(frames_at(src, info, [index], lambda frame: frame_luma(frame, fmt), exact))
    if not found:
        raise VidcolorError(f"{src}: frame {index} ({at.text}) could not be decoded")
    from vidcolor.stream.preview import FramePreview  # imports torch: every argument checked

    predictor = make_predictor(need_transfer=ref_path is not None)
    rgb = FramePreview(predictor, fmt)(found[0][1], (ref_path,) if ref_path else ())
    write_image(out_path, upright(rgb, info.rotation))
    if not quiet:
        print(f"{src} frame {index} ({at.text}) -> {out_path}", file=sys.stderr)
    return out_path


def stylize_image(content: str, style: str, out: str, make_predictor: Callable[..., Predictor]) -> Path:
    from vidcolor.chain.stylize import stylize  # imports torch: after the arguments are checked below

    content_path, style_path, out_path = check_image(content), check_image(style), Path(out)
    write_format(out_path)
    refuse_overwrite([content_path, style_path], [out_path])
    content_image, style_image = read_image(content_path, crop=False), read_image(style_path)
    predictor = make_predictor(need_transfer=True, need_colorizer=False)
    reference = predictor.prepare_reference(style_image, style_path.name)
    write_image(out_path, stylize(predictor, content_image, reference))
    return out_path
