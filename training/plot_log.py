"""Plot a training log (log.jsonl) as a PNG: training loss (log scale, smoothed) and validation figures.

python training/plot_log.py runs/transfer/log.jsonl docs/decoder-training.png --val val_psnr
"""

from __future__ import annotations

import argparse
import json
import math

import cv2
import numpy as np

W, H, PAD = 900, 360, 60


def _panel(title: str, series: dict[str, tuple[list[float], list[float]]], log_y: bool) -> np.ndarray:
    img = np.full((H, W, 3), 255, np.uint8)
    xs_all = [x for xs, _ in series.values() for x in xs]
    ys_all = [math.log10(y) if log_y else y for _, ys in series.values() for y in ys if not log_y or y > 0]
    if not xs_all or not ys_all:
        return img
    x0, x1 = min(xs_all), max(xs_all) or 1
    y0, y1 = min(ys_all), max(ys_all)
    y1 = y1 if y1 > y0 else y0 + 1

    def px(x, y):
        yv = math.log10(y) if log_y else y
        return int(PAD + (x - x0) / max(1e-9, x1 - x0) * (W - 2 * PAD)), int(
            H - PAD - (yv - y0) / (y1 - y0) * (H - 2 * PAD)
        )

    cv2.rectangle(img, (PAD, PAD), (W - PAD, H - PAD), (0, 0, 0), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (PAD, 30), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        y = int(H - PAD - i / 4 * (H - 2 * PAD))
        label = f"{10**yv:.3g}" if log_y else f"{yv:.2f}"
        cv2.putText(img, label, (2, y + 4), font, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
        cv2.line(img, (PAD, y), (W - PAD, y), (225, 225, 225), 1)
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        x = int(PAD + i / 4 * (W - 2 * PAD))
        cv2.putText(img, f"{xv:.0f}", (x - 15, H - PAD + 18), font, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(img, "step", (W // 2, H - 12), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    colours = [(200, 60, 30), (30, 120, 220), (40, 160, 60), (150, 50, 150)]
    for k, (name, (xs, ys)) in enumerate(series.items()):
        pts = np.array([px(x, y) for x, y in zip(xs, ys, strict=True) if not log_y or y > 0], np.int32)
        colour = colours[k % len(colours)]
        if len(pts) > 1:
            cv2.polylines(img, [pts], False, colour, 2 if len(pts) < 100 else 1, cv2.LINE_AA)
        if len(pts) < 100:
            for pt in pts:
                cv2.circle(img, tuple(int(v) for v in pt), 3, colour, -1, cv2.LINE_AA)
        last = f"{ys[-1]:.4g}" if ys else ""
        cv2.putText(
            img, f"{name} (last {last})", (W - PAD - 260, PAD + 20 + 18 * k), font, 0.45, colour, 1, cv2.LINE_AA
        )
    return img


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("log")
    p.add_argument("out")
    p.add_argument("--loss", nargs="+", default=["loss"])
    p.add_argument("--val", nargs="+", default=["val_psnr"])
    p.add_argument("--smooth", type=int, default=50)
    args = p.parse_args(argv)
    records = {}
    for line in open(args.log):
        r = json.loads(line)
        records[r["step"]] = r  # a resumed run rewrites the steps after its checkpoint: keep the latest
    rows = [records[s] for s in sorted(records)]
    loss_series = {}
    for key in args.loss:
        pts = [(r["step"], r[key]) for r in rows if key in r]
        ys = np.array([y for _, y in pts])
        k = max(1, min(args.smooth, len(ys)))
        smooth = np.convolve(ys, np.ones(k) / k, mode="valid") if len(ys) else ys
        loss_series[f"{key} (mean of {k})"] = ([x for x, _ in pts][k - 1 :], list(smooth))
    val_series = {key: ([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r]) for key in args.val}
    img = np.vstack([_panel("training loss", loss_series, True), _panel("validation", val_series, False)])
    cv2.imwrite(args.out, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
