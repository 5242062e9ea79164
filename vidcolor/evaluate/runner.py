"""`vidcolor eval`: score every method side by side on the same frames of colour ground truth.

For a video the input is each frame's luminance, the reference is frame ``ref_frame`` in colour (or a given image)
and the other frames are scored. For a folder of colour images the first image (sorted by name) is the reference.
Methods: gray (ab = 0), reinhard (global Lab mean/std transfer), auto (automatic colorization: no reference),
transfer (coarse T_ab), paper (the paper's chain: refinement fed from T_ab), match (matched ab alone), exemplar (the
full chain as `image` uses it, with the predictor's hint source: exact CIE L kept, RGB out), exemplar_yuv (the same
chain as `run` uses it: the frame's own luma plane in and passed through, the propagation, chroma planes out, shown as
a player decodes them), propagated (exemplar + the propagation: colours carried along the motion, frames in order,
starting from the reference where it is a view of the first frame), match-frozen / exemplar-frozen (the same
with the frozen matcher and the sparse-hint refinement: the chain before the learned parts), oracle (the sparse-hint
U-Net fed with hints from the ground truth), oracle-match (the refiner fed with the ground truth's own cell colours as
a perfect match). All frames of every sequence are scored unless ``max_frames`` is given.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.chain.matching import cell_means
from vidcolor.chain.motion import gray_u8
from vidcolor.chain.predictor import Predictor, working_shape
from vidcolor.chain.propagation import Propagation
from vidcolor.color import lab_to_rgb_keep_l, rgb_to_l, rgb_to_lab
from vidcolor.errors import VidcolorError
from vidcolor.evaluate import metrics
from vidcolor.evaluate.baselines import gray_ab, reinhard_ab
from vidcolor.evaluate.keyframed import colour_keyframed
from vidcolor.io.image import IMAGE_EXTS, check_image, is_grayscale, read_image
from vidcolor.io.media import iter_rgb_frames, probe
from vidcolor.io.yuv import SWS_COLORSPACES, PlanarFormat, planar_to_rgb, rgb_to_planar
from vidcolor.models.correspond import upsample_cells

METHODS = (
    "gray", "reinhard", "auto", "transfer", "paper", "match-frozen", "exemplar-frozen", "match", "exemplar",
    "exemplar_yuv", "propagated", "keyframes", "oracle", "oracle-match",
)  # fmt: skip
NETWORK_METHODS = {
    "auto": "colorizer",
    "transfer": "decoder",
    "paper": "decoder",
    "match-frozen": "decoder",
    "exemplar-frozen": "decoder",
    "match": "decoder",
    "exemplar": "decoder",
    "exemplar_yuv": "decoder",
    "propagated": "decoder",
    "keyframes": "decoder",
    "oracle": "colorizer",
    "oracle-match": "refiner",
}
STAGE_OF = {
    "auto": "auto", "transfer": "transfer", "paper": "paper", "match": "match", "exemplar": "exemplar_match",
    "propagated": "exemplar_match",
}  # fmt: skip
# every method that colours from the reference (exemplar_yuv is not a chain stage, and was once left without one:
# it then scored the automatic colours)
NEEDS_REFERENCE = (set(STAGE_OF) - {"auto"}) | {"exemplar_yuv", "keyframes"}
PROTOCOLS = ("one", "first-last")
FROZEN_STAGE_OF = {"match-frozen": "match", "exemplar-frozen": "exemplar_match"}


@dataclass
class Sequence:
    name: str
    frames: list[np.ndarray]  # colour ground truth, scored
    reference: np.ndarray  # colour reference
    temporal: bool  # frames are consecutive video frames (CDC and warp error apply)
    colorspace: int = 6  # AVColorSpace of the source (BT.601 when unknown): the matrix of its luma plane
    video: list[np.ndarray] | None = None  # every frame of a video, keyframes included (the keyframes row)
    keyframes: dict[int, np.ndarray] | None = None  # frame -> colour image (a video's references, by frame)
    scored_at: list[int] | None = None  # the scored frames' indices in ``video``


def load_sequence(
    path: str, max_frames: int | None, ref_frame: int = 0, ref: str | None = None, protocol: str = "one"
) -> Sequence:
    """``protocol``: ``one`` (the reference frame, every other frame scored) or ``first-last`` (the first and the
    last frame both references, the frames between them scored; videos only)."""
    p = Path(path)
    if protocol == "first-last" and (p.is_dir() or ref or ref_frame):
        raise VidcolorError(f"{p}: --protocol first-last takes a video's first and last frames (no --ref, "
                            "no --ref-frame, no folder of photos)")  # fmt: skip
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
        if len(files) < 2:
            raise VidcolorError(f"{p}: a folder to evaluate needs at least 2 colour images (reference + target)")
        files = files[: (max_frames + 1) if max_frames else None]
        images = [read_image(f) for f in files]
        for f, img in zip(files, images, strict=True):
            if is_grayscale(img):
                raise VidcolorError(f"{f}: ground truth must be in colour, this image is grayscale")
        return Sequence(p.name, images[1:], read_image(ref) if ref else images[0], temporal=False)
    if not p.exists():
        raise VidcolorError(f"{p}: no such file or folder")
    limit = None if max_frames is None else max_frames + ref_frame + 1
    frames = list(iter_rgb_frames(p, limit))
    if len(frames) <= ref_frame + 1:
        raise VidcolorError(f"{p}: only {len(frames)} frames, need more than --ref-frame {ref_frame} + 1")
    reference = read_image(check_image(ref)) if ref else frames[ref_frame]
    if is_grayscale(frames[len(frames) // 2]):
        raise VidcolorError(f"{p}: ground truth must be in colour, this video is grayscale")
    keyframes = {ref_frame: reference}
    if protocol == "first-last":
        if len(frames) < 3:
            raise VidcolorError(f"{p}: only {len(frames)} frames, --protocol first-last needs at least 3")
        keyframes[len(frames) - 1] = frames[-1]
    at = [i for i in range(len(frames)) if i not in keyframes]
    space = probe(p).colorspace
    space = space if space in SWS_COLORSPACES else 6
    return Sequence(p.stem, [frames[i] for i in at], reference, True, space, frames, keyframes, at)


def _batches(frames: list[np.ndarray], batch: int) -> list[list[np.ndarray]]:
    """Consecutive runs of at most ``batch`` frames of one shape (folders may mix sizes)."""
    out: list[list[np.ndarray]] = []
    for f in frames:
        if out and len(out[-1]) < batch and out[-1][0].shape == f.shape:
            out[-1].append(f)
        else:
            out.append([f])
    return out


def _recombine(l_full: torch.Tensor, ab: torch.Tensor) -> list[np.ndarray]:
    if ab.shape[-2:] != l_full.shape[-2:]:
        ab = F.interpolate(ab, size=l_full.shape[-2:], mode="bilinear", align_corners=False)
    rgb = lab_to_rgb_keep_l(l_full, ab)
    return list((rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


class _ThroughPlanes:
    """`run`'s path on colour ground truth: each frame's luma plane (its own matrix, limited range, 4:2:0 where the
    size allows) -> the model stage's chroma planes (one stage per frame size and sequence: its propagation sees the
    shot) -> the RGB a player shows for luma + chroma."""

    def __init__(self, predictor: Predictor, seq: Sequence) -> None:
        self.predictor, self.seq = predictor, seq
        self.stages: dict[tuple[int, int], tuple] = {}

    def __call__(self, frames: list[np.ndarray], reference) -> list[np.ndarray]:
        from vidcolor.stream.chroma_stage import ChromaStage

        h, w = frames[0].shape[:2]
        if (h, w) not in self.stages:
            fmt = PlanarFormat(w, h, 8, False, self.seq.colorspace, 2 if h % 2 == 0 and w % 2 == 0 else 1, 8)
            self.stages[h, w] = fmt, ChromaStage(self.predictor, fmt, propagate=self.seq.temporal)
        fmt, stage = self.stages[h, w]
        luma = np.stack([rgb_to_planar(f, fmt)[0] for f in frames])
        chroma = stage(luma, reference)
        return [planar_to_rgb(y, c, fmt) for y, c in zip(luma, chroma, strict=True)]


def colorize_sequence(
    seq: Sequence, predictor: Predictor | None, methods: list[str], batch: int = 4, frozen: Predictor | None = None
) -> dict[str, list[np.ndarray]]:
    """Every requested method's output frames for one sequence (same frames, same reference for all).
    ``frozen``: the predictor of the ``*-frozen`` rows. Frames go in order, so the memory sees a shot."""
    outputs: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    device = predictor.device if predictor else torch.device("cpu")
    rgb_ref = torch.from_numpy(seq.reference).permute(2, 0, 1)[None].float().div(255).to(device)
    reference = frozen_ref = None
    if predictor is not None and NEEDS_REFERENCE & set(methods):
        reference = predictor.prepare_reference(seq.reference, "reference")
    if frozen is not None:
        frozen_ref = frozen.prepare_reference(seq.reference, "reference")
    propagation = Propagation() if "propagated" in methods and seq.temporal else None
    yuv_rows = [m for m in ("exemplar_yuv", "keyframes") if m in methods and (m == "exemplar_yuv" or not seq.video)]
    planes = _ThroughPlanes(predictor, seq) if predictor is not None and yuv_rows else None
    if predictor is not None and "keyframes" in methods and seq.video:
        outputs["keyframes"] = colour_keyframed(
            predictor, seq.video, seq.keyframes, seq.scored_at, seq.colorspace, batch
        )  # fmt: skip
    for chunk in _batches(seq.frames, batch):
        gt = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255
        gt = gt.to(device)
        l_full = rgb_to_l(gt)  # (N, 1, H, W)
        if "gray" in methods:
            outputs["gray"] += _recombine(l_full, gray_ab(l_full))
        if "reinhard" in methods:
            outputs["reinhard"] += _recombine(l_full, reinhard_ab(l_full, rgb_ref))
        if predictor is None:
            continue
        hs, ws = working_shape(*l_full.shape[-2:], predictor.size)
        l_small = F.interpolate(l_full, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)
        with torch.no_grad():
            stages = predictor.stages(l_small, reference, every=[STAGE_OF[m] for m in methods if m in STAGE_OF])
            if propagation is not None:  # photos (no shot): the propagated row is the exemplar row
                grays = [gray_u8(plane) for plane in l_small[:, 0].float().cpu().numpy()]
                stages["propagated"] = propagation(stages["exemplar_match"], grays, reference.seeds)
            for method, key in STAGE_OF.items():
                if method in methods:
                    outputs[method] += _recombine(l_full, stages.get(method, stages[key]))
            if planes is not None:
                through = planes(chunk, reference)
                for row in yuv_rows:  # a folder of photos has no shot: its keyframes row is the exemplar_yuv row
                    outputs[row] += through
            if frozen is not None:
                stages = frozen.stages(l_small, frozen_ref, every=["match"])
                for method, key in FROZEN_STAGE_OF.items():
                    if method in methods:
                        outputs[method] += _recombine(l_full, stages[key])
            gt_small = F.interpolate(gt, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)
            ab_gt = rgb_to_lab(gt_small.clamp(0, 1))[:, 1:]
            if "oracle" in methods:
                mask = predictor.chain.pattern(hs, ws, 0)
                outputs["oracle"] += _recombine(l_full, predictor.sparse(l_small, ab_gt, mask))
            if "oracle-match" in methods:
                outputs["oracle-match"] += _recombine(l_full, _oracle_match(predictor, l_small, ab_gt))
    return outputs


def _oracle_match(predictor: Predictor, l_small: torch.Tensor, ab_gt: torch.Tensor) -> torch.Tensor:
    """The refiner fed with a perfect match: the ground truth's mean ab per 8 x 8 cell, confidence 1."""
    ab = upsample_cells(cell_means(ab_gt, (l_small.shape[-2] // 8, l_small.shape[-1] // 8)), l_small)
    return predictor.dense(l_small, ab, torch.ones_like(l_small))


def score(seq: Sequence, frames: list[np.ndarray], flows: metrics.FlowCache | None) -> dict[str, float]:
    cf_gt = [metrics.colorfulness(g) for g in seq.frames]
    cf = [metrics.colorfulness(f) for f in frames]
    result = {
        "psnr": float(np.mean([metrics.psnr(f, g) for f, g in zip(frames, seq.frames, strict=True)])),
        "ssim": float(np.mean([metrics.ssim(f, g) for f, g in zip(frames, seq.frames, strict=True)])),
        "colorfulness": float(np.mean(cf)),
        "colorfulness_gap": float(np.mean(np.abs(np.array(cf) - np.array(cf_gt)))),
    }
    if seq.temporal:
        result["cdc"] = metrics.cdc(frames)
        result["warp_error"] = metrics.warp_error(frames, flows) if flows else float("nan")
    return result


def evaluate(
    sources: list[str],
    make_predictor: Callable[..., Predictor] | None,
    max_frames: int | None = None,
    ref_frame: int = 0,
    ref: str | None = None,
    batch: int = 4,
    sheet_frames: int = 3,
    on_sequence: Callable[[str, dict], None] | None = None,
    only: list[str] | None = None,
    protocol: str = "one",
) -> tuple[dict, dict[str, list[tuple[str, list[np.ndarray]]]]]:
    """Returns (results for JSON, sheet rows: method -> [(sequence, frames picked for the contact sheet)]).
    ``only``: the methods to run (default all)."""
    unknown = sorted(set(only or ()) - set(METHODS))
    if unknown:
        raise VidcolorError(f"--methods: unknown {', '.join(unknown)} (choose from {', '.join(METHODS)})")
    sequences = [load_sequence(s, max_frames, ref_frame, ref, protocol) for s in sources]  # all inputs checked first
    predictor, missing = _build_predictor(make_predictor)
    frozen = None
    if predictor is not None and predictor.matcher is not None and predictor.matcher.learned:
        if only is None or set(FROZEN_STAGE_OF) & set(only):
            frozen = make_predictor(need_transfer=True, matcher="frozen")
    else:
        missing.update({m: "no learned matcher: same as the rows without -frozen" for m in FROZEN_STAGE_OF})
    if predictor is not None and predictor.dense is None:
        missing.setdefault("oracle-match", "no trained refiner")
    if only is not None:
        missing = {m: why for m, why in missing.items() if m in only}
    methods = [m for m in METHODS if m not in missing and (only is None or m in only)]
    results: dict = {"sequences": {}, "missing": missing}
    sheet: dict[str, list] = {m: [] for m in ("ground truth", *methods)}
    for seq in sequences:
        outputs = colorize_sequence(seq, predictor, methods, batch, frozen)
        flows = metrics.FlowCache(seq.frames) if seq.temporal else None
        per_method = {m: score(seq, outputs[m], flows) for m in methods}
        per_method.update({m: {"missing": why} for m, why in missing.items()})
        truth = {"colorfulness": float(np.mean([metrics.colorfulness(g) for g in seq.frames]))}
        if seq.temporal:
            truth["cdc"] = metrics.cdc(seq.frames)  # "CDC within 5 % of the ground truth's" needs this
        results["sequences"][seq.name] = {"frames": len(seq.frames), "methods": per_method, "ground_truth": truth}
        picks = np.linspace(0, len(seq.frames) - 1, sheet_frames).round().astype(int)
        sheet["ground truth"].append((seq.name, [seq.frames[i] for i in picks]))
        for m in methods:
            sheet[m].append((seq.name, [outputs[m][i] for i in picks]))
        if on_sequence:
            on_sequence(seq.name, per_method)
    results["mean"] = {m: _mean_figures([r["methods"][m] for r in results["sequences"].values()]) for m in methods}
    results["mean"]["ground truth"] = _mean_figures([r["ground_truth"] for r in results["sequences"].values()])
    results["settings"] = {
        "sources": [str(s) for s in sources],
        "max_frames": max_frames,
        "ref_frame": ref_frame,
        "protocol": protocol,
        "ref": ref,
        "size": predictor.size if predictor else None,
        "hint_density": predictor.hint_density if predictor else None,
        "hints": predictor.hints if predictor else None,
        "precision": predictor.precision.describe() if predictor else None,
    }
    results["environment"] = environment(predictor.device if predictor else torch.device("cpu"))
    return results, sheet


def _mean_figures(per_sequence: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the sequences that have it (folders have no temporal metrics)."""
    keys = dict.fromkeys(k for figures in per_sequence for k in figures)
    return {k: float(np.nanmean([f[k] for f in per_sequence if k in f])) for k in keys}


def _build_predictor(make_predictor) -> tuple[Predictor | None, dict[str, str]]:
    if make_predictor is None:
        return None, {m: "not requested" for m in NETWORK_METHODS}
    try:
        return make_predictor(need_transfer=True), {}
    except VidcolorError as full_error:
        try:
            predictor = make_predictor(need_transfer=False)
        except VidcolorError as exc:
            return None, {m: str(exc) for m in NETWORK_METHODS}
        return predictor, {m: str(full_error) for m, net in NETWORK_METHODS.items() if net == "decoder"}


def environment(device: torch.device) -> dict:
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "av": av.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
