"""The measuring commands: `eval` (quality on colour ground truth) and `bench` (speed). Registered on the `vidcolor`
group by commands.py; each parses its options, then delegates to vidcolor.evaluate."""

from __future__ import annotations

import click

from vidcolor.cli.options import (
    FAST_PRESET,
    POSITIVE,
    dtype_list,
    hints_option,
    int_list,
    lazy_predictor_factory,
    model_options,
    size_list,
)


@click.command("eval")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--max-frames", type=POSITIVE, default=None, help="Score at most N frames per sequence (default: every frame)."
)
@click.option(
    "--ref-frame", type=click.IntRange(min=0), default=0, show_default=True, help="Frame used as the colour reference."
)
@click.option("--ref", default=None, help="A reference image for every sequence instead of a frame.")
@click.option("--baselines-only", is_flag=True, help="Only gray and reinhard (no weights needed).")
@click.option("--batch", type=POSITIVE, default=4, show_default=True)
@click.option("--json", "json_path", default=None, help="Write per-sequence and mean figures here.")
@click.option("--sheet", default=None, help="Write a contact sheet PNG (ground truth, gray, each method).")
@click.option("--methods", default=None, help="Comma-separated methods to run (default: all; see README).")
@click.option(
    "--protocol",
    type=click.Choice(["one", "first-last"]),
    default="one",
    show_default=True,
    help="one: the reference frame colours the rest; first-last: a video's first and last frames are both "
    "references (keyframes) and the frames between them are scored.",
)
@model_options
@hints_option
def eval_cmd(
    sources, max_frames, ref_frame, ref, baselines_only, batch, json_path, sheet, methods, protocol, vgg, device,
    size, hints,
):  # fmt: skip
    """Score every method on colour ground truth SOURCES (videos or folders of colour images)."""
    from vidcolor.evaluate import report
    from vidcolor.evaluate.runner import evaluate

    report.check_outputs([*sources, ref], json_path, sheet)
    factory = None if baselines_only else lazy_predictor_factory(vgg, device, size, hints)
    results, rows = evaluate(
        list(sources),
        factory,
        max_frames,
        ref_frame,
        ref,
        batch,
        on_sequence=lambda name, figures: click.echo(report.sequence_line(name, figures), err=True),
        only=[m.strip() for m in methods.split(",") if m.strip()] if methods else None,
        protocol=protocol,
    )
    click.echo(report.eval_table(results))
    if json_path:
        report.write_json(json_path, results)
    if sheet:
        report.contact_sheet(rows, sheet)


@click.command()
@click.option("--sizes", default="256,512,1024", show_default=True, type=int_list)
@click.option("--batches", default="1,8", show_default=True, type=int_list)
@click.option(
    "--dtypes",
    default="fp32,fp16,bf16",
    show_default=True,
    type=dtype_list,
    help="fp16: CUDA only; bf16 on CUDA and CPUs.",
)
@click.option("--repeats", default=3, show_default=True, type=POSITIVE)
@click.option("--clip", default=None, help="Video for the streaming figures (else synthetic clips).")
@click.option("--clip-frames", default=48, show_default=True, type=POSITIVE)
@click.option(
    "--stream-sizes",
    default=None,
    type=size_list,
    help="Synthetic clips WxH[,WxH] (default: 640x360 on CPU, 1920x1080,3840x2160 on CUDA).",
)
@click.option("--stream-size", default=256, show_default=True, help="Working size for the streaming figures.")
@click.option("--stream-batch", default="4", show_default=True, type=int_list, help="Streaming batches.")
@click.option("--stream-dtypes", default=None, type=dtype_list, help="Default: the precision run takes here.")
@click.option("--codec", default="libx264", show_default=True, help="Encoder for the streaming figures (or auto).")
@click.option("--crf", default=18, show_default=True)
@click.option("--preset", default="veryfast", show_default=True, help="Encoder preset for the streaming figures.")
@click.option("--fast", is_flag=True, help="Streaming figures with `run --fast`'s settings (size 128, batch 2).")
@click.option("--json", "json_path", default=None)
@click.option("--vgg", type=click.Path(dir_okay=False), default=None)
@click.option("--device", default="auto", show_default=True)
@hints_option
def bench(
    sizes,
    batches,
    dtypes,
    repeats,
    clip,
    clip_frames,
    stream_sizes,
    stream_size,
    stream_batch,
    stream_dtypes,
    codec,
    crf,
    preset,
    fast,
    json_path,
    vgg,
    device,
    hints,
):
    """Time each stage of the chain and the streaming ceilings; --json for machine-readable results."""
    from vidcolor.evaluate import report
    from vidcolor.evaluate.bench import run_bench

    report.check_outputs([clip], json_path)
    if fast:
        stream_size, stream_batch, preset = FAST_PRESET["size"], [FAST_PRESET["batch"]], FAST_PRESET["preset"]
    results = run_bench(
        lazy_predictor_factory(vgg, device, stream_size, hints),
        device,
        sizes,
        batches,
        list(dtypes),
        repeats,
        clip,
        clip_frames,
        codec=codec,
        crf=crf,
        preset=preset,
        stream_size=stream_size,
        stream_batches=tuple(stream_batch),
        stream_sizes=tuple(stream_sizes) if stream_sizes else None,
        stream_dtypes=stream_dtypes,
        on_row=lambda row: click.echo(
            f"{row['size']}px batch {row['batch']} {row['dtype']}: {row['chain_seconds_per_image']:.4f} s/image",
            err=True,
        ),
        on_stream=lambda row: click.echo(report.stream_line(row), err=True),
    )
    click.echo(report.bench_table(results))
    if json_path:
        report.write_json(json_path, results)
