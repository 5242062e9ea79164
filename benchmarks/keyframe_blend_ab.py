"""A/B of the keyframe blend (vidcolor/chain/keyframes.py) on the DAVIS dev set, first and last frames as keyframes.

Each sequence is coloured once by `run`'s model stage (vidcolor/evaluate/keyframed.py); every call of the blend is
recorded (both sides' ab and trusts, the distance weights), and each variant re-blends the recorded sides and
makes the chroma planes from the frame's own luma as `run` does, scored against the ground truth (PSNR, the frames
between the keyframes; CDC over them). A variant is [floor, trust power, distance power]; the production blend is
[0.05, 1, 1].

    python benchmarks/keyframe_blend_ab.py OUT.json SEQUENCE.mp4 [...]
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import vidcolor.chain.keyframes as keyframes
from vidcolor.chain.predictor import Predictor
from vidcolor.evaluate import metrics
from vidcolor.evaluate.keyframed import colour_keyframed
from vidcolor.evaluate.runner import environment
from vidcolor.io.media import iter_rgb_frames, probe
from vidcolor.io.yuv import SWS_COLORSPACES, PlanarFormat, planar_to_rgb, rgb_to_planar
from vidcolor.stream.chroma_stage import ChromaStage, upload

VARIANTS = [[0.05, 1, 1], [0.01, 1, 1], [0.2, 1, 1], [1.0, 1, 1], [0.05, 2, 1], [0.05, 1, 2], [0.05, 2, 2],
            [0.05, 0.5, 1], [0.01, 2, 2], [0.05, 1, 1, 9], [0.05, 1, 1, 31], [0.05, 1, 1, "t"]]  # fmt: skip
# a 4th entry: the trust maps box-blurred over that many pixels, or "t": averaged with the frames before and after
EXTRA = ["forward", "back", "distance"]  # one side alone; distance weights alone


def variant_blend(rec: dict, variant) -> torch.Tensor:
    if variant == "forward":
        return rec["fwd"].float()
    if variant == "back":
        return rec["back"].float()
    d_f, d_b = rec["d"]
    if variant == "distance":
        return (d_f * rec["fwd"].float() + d_b * rec["back"].float()) / max(d_f + d_b, 1e-6)
    floor, tp, dp = variant[:3]
    tf, tb = rec["tf"].float(), rec["tb"].float()
    if len(variant) > 3 and variant[3] == "t":
        tf, tb = rec["tf_t"].float(), rec["tb_t"].float()
    elif len(variant) > 3:
        k = variant[3]
        tf, tb = (F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False) for x in (tf, tb))
    w_f = d_f**dp * (floor + tf**tp)
    w_b = d_b**dp * (floor + tb**tp)
    return (w_f * rec["fwd"].float() + w_b * rec["back"].float()) / (w_f + w_b).clamp_min(1e-6)


def main() -> None:
    out, sources = Path(sys.argv[1]), sys.argv[2:]
    predictor = Predictor.from_pretrained()
    names = [json.dumps(v) for v in VARIANTS] + EXTRA
    results = {"variants": names, "sequences": {}, "environment": environment(predictor.device)}
    original = keyframes.blend
    for source in sources:
        frames = list(iter_rgb_frames(Path(source)))
        n = len(frames)
        space = probe(Path(source)).colorspace
        space = space if space in SWS_COLORSPACES else 6
        records = []

        def recording(fwd, trust_f, back, trust_b, d_f, d_b, records=records):
            records.append({"fwd": fwd.half(), "tf": trust_f.half(), "back": back.half(), "tb": trust_b.half(),
                            "d": (d_f, d_b)})  # fmt: skip
            return original(fwd, trust_f, back, trust_b, d_f, d_b)

        keyframes.blend = recording
        try:
            colour_keyframed(predictor, frames, {0: frames[0], n - 1: frames[-1]}, [], space)
        finally:
            keyframes.blend = original
        records.reverse()  # the back pass blends the last frame first: frames 1 .. n - 2 in order now
        assert len(records) == n - 2, (len(records), n)
        for key in ("tf", "tb"):  # each frame's trust averaged with its neighbours' (the "t" variant)
            for t, rec in enumerate(records):
                near = [records[i][key].float() for i in (t - 1, t, t + 1) if 0 <= i < len(records)]
                rec[key + "_t"] = torch.stack(near).mean(0).half()
        h, w = frames[0].shape[:2]
        fmt = PlanarFormat(w, h, 8, False, space, 2 if h % 2 == 0 and w % 2 == 0 else 1, 8)
        stage = ChromaStage(predictor, fmt, propagate=False)
        row = {}
        lumas = [rgb_to_planar(frames[t], fmt)[0] for t in range(1, n - 1)]
        for name, variant in zip(names, [*VARIANTS, *EXTRA], strict=True):
            shown = []
            for luma, rec in zip(lumas, records, strict=True):
                codes = stage.planes(upload([luma], predictor.device), variant_blend(rec, variant))
                shown.append(planar_to_rgb(luma, codes.cpu().numpy()[0], fmt))
            psnr = float(np.mean([metrics.psnr(f, g) for f, g in zip(shown, frames[1:-1], strict=True)]))
            row[name] = {"psnr": psnr, "cdc": metrics.cdc(shown)}
        row["ground truth"] = {"cdc": metrics.cdc(frames[1:-1])}
        results["sequences"][Path(source).stem] = row
        print(Path(source).stem, json.dumps(row), flush=True)
    rows = results["sequences"].values()
    first = next(iter(rows))
    keys = [*names, "ground truth"]
    results["mean"] = {k: {m: float(np.mean([r[k][m] for r in rows])) for m in first[k]} for k in keys}
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["mean"], indent=1))


if __name__ == "__main__":
    main()
