"""Presenting measurements: terminal tables, JSON files and contact sheets (all outputs written atomically)."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from vidcolor.io.atomic import write_text_atomic
from vidcolor.io.image import write_format, write_image
from vidcolor.io.paths import check_output_folder, refuse_overwrite
from vidcolor.io.thumbs import contact_sheet as sheet

COLUMNS = (
    ("psnr", "PSNR", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("colorfulness", "CF", "{:.1f}"),
    ("colorfulness_gap", "CF gap", "{:.2f}"),
    ("cdc", "CDC", "{:.5f}"),
    ("warp_error", "Warp", "{:.5f}"),
)


def _fmt(value, pattern: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)


def eval_table(results: dict) -> str:
    """Mean over sequences, one row per method; missing methods listed with the reason."""
    header = f"{'method':<16}" + "".join(f"{title:>10}" for _, title, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    for method, figures in results["mean"].items():
        lines.append(f"{method:<16}" + "".join(f"{_fmt(figures.get(k), p):>10}" for k, _, p in COLUMNS))
    for method, why in results.get("missing", {}).items():
        lines.append(f"{method:<16}  missing: {why[:100]}")
    return "\n".join(lines)


def sequence_line(name: str, per_method: dict) -> str:
    parts = [f"{m} {f['psnr']:.2f}" for m, f in per_method.items() if "psnr" in f]
    return f"{name}: PSNR " + ", ".join(parts)


def check_outputs(inputs: list, json_path: str | None = None, sheet: str | None = None) -> None:
    """Before any work: the JSON file and the contact sheet replace no input (a file given, or one inside a folder
    given), their folders exist, the sheet has an image extension."""
    refuse_overwrite(inputs, [json_path, sheet])
    check_output_folder(json_path, sheet)
    if sheet:
        write_format(sheet)


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def contact_sheet(rows: dict[str, list[tuple[str, list[np.ndarray]]]], path: str | os.PathLike, tile_w: int = 200):
    """Columns: ground truth then each method; one row per picked frame of each sequence; labelled."""
    columns = {name: [(seq, frame) for seq, frames in seqs for frame in frames] for name, seqs in rows.items()}
    write_image(path, sheet(columns, tile_w))


def bench_table(results: dict) -> str:
    """Seconds per image by stage, paper Table 1 style, then the per-frame chains: ``chain`` (default hint source:
    match + refine + propagate + chroma) and ``paper`` (precolor + transfer + refine + chroma); then one line per
    stream."""
    stages = ("precolor", "ref_stats", "transfer", "match", "refine", "propagate", "chroma", "recombine")
    header = f"{'size':>6} {'batch':>5} {'dtype':>5}" + "".join(f"{s:>11}" for s in (*stages, "chain", "paper"))
    lines = [header, "-" * len(header)]
    for row in results["stages"]:
        per = row["seconds_per_image"]
        cells = [per.get(k, float("nan")) for k in stages]
        cells += [row["chain_seconds_per_image"], row["paper_chain_seconds_per_image"]]
        lines.append(f"{row['size']:>6} {row['batch']:>5} {row['dtype']:>5}" + "".join(f"{c:>11.4f}" for c in cells))
    lines += [stream_line(s) for s in results.get("streams", [])]
    return "\n".join(lines)


def stream_line(s: dict) -> str:
    peak = f", peak GPU memory {s['peak_gpu_memory_gb']:.1f} GB" if s.get("peak_gpu_memory_gb") else ""
    transcode = ""
    if s.get("transcode_fps"):
        transcode = f"; transcode alone {s['transcode_fps']:.1f} fps: {100 * s['end_to_end_vs_transcode']:.0f}%"
    return (
        f"streaming {s['resolution']} {s['pix_fmt']} ({s['clip']}), {s['codec']['codec']} {s['codec']['preset']}, "
        f"size {s['working_size']}, batch {s['batch']}, {s['dtype']}: decode+encode alone "
        f"{s['decode_encode_fps']:.1f} fps, networks alone {s['network_fps']:.2f}, model stage alone "
        f"{s['model_fps']:.2f} ({s['non_network_ms_per_frame']:.1f} ms/frame outside the networks), end to end "
        f"{s['end_to_end_fps']:.2f} fps ({100 * s['end_to_end_vs_model']:.0f}% of the model stage, "
        f"{100 * s['end_to_end_vs_decode_encode']:.0f}% of decode+encode{transcode}){peak}"
    )
