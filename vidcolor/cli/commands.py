"""Command line: each command parses its options, then delegates. User errors print one line, exit 1."""

from __future__ import annotations

import signal
import sys

import click

from vidcolor import __version__
from vidcolor.cli.measure import bench, eval_cmd
from vidcolor.cli.options import (
    POSITIVE,
    VidcolorGroup,
    fast_settings,
    hints_option,
    lazy_predictor_factory,
    model_options,
    threshold_option,
)
from vidcolor.errors import VidcolorError
from vidcolor.host_memory import keep_large_allocations


@click.group(cls=VidcolorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidcolor")
def cli() -> None:
    """Colorize black-and-white images and video from colour reference images."""


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--ref", "ref", default=None, help="Colour reference image; omitted = automatic colorization.")
@click.option("-o", "--output", "output", required=True, help="Output file (one target) or folder (several).")
@click.option("--frame", "at", default=None, help="TARGET is a video: colour its frame at TIME (12.5, 1:30, 240f).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@model_options
@hints_option
def image(targets, ref, output, at, quiet, vgg, device, size, hints):
    """Colorize still images TARGETS (colour targets are reduced to gray first), or one frame of a video."""
    from vidcolor.stream.still import colorize_frame, colorize_images
    from vidcolor.stream.timerange import parse_time

    factory = lazy_predictor_factory(vgg, device, size, hints)
    if at is None:
        return colorize_images(list(targets), ref, output, factory, quiet=quiet)
    if len(targets) != 1:
        raise VidcolorError(f"--frame takes one video TARGET, not {len(targets)}")
    colorize_frame(targets[0], parse_time(at, "--frame"), ref, output, factory, quiet)


@cli.command()
@click.argument("source")
@click.option("--refs", default=None, help="Reference image, or folder (files named by frame index are keyframes).")
@click.option("-o", "--output", "output", required=True, help="Output video (.mp4, .mkv, .mov, .webm).")
@click.option("--batch", default=4, show_default=True, type=POSITIVE, help="Frames per model batch.")
@click.option(
    "--codec",
    default="libx264",
    show_default=True,
    help="Video encoder (libx264, libx265, ...; auto: NVENC where it opens, else libx264).",
)
@click.option("--crf", default=18, show_default=True, help="Quality (0: lossless).")
@click.option("--preset", default="medium", show_default=True, help="Encoder preset.")
@click.option("--fast", is_flag=True, help="CPU-friendly preset: working size 128, batch 2, encoder veryfast.")
@click.option("--chunk-frames", default=240, show_default=True, type=POSITIVE, help="Frames per resumable chunk.")
@click.option(
    "--no-propagate",
    "no_propagate",
    is_flag=True,
    help="Colour every frame on its own (default: colours carried along the motion within a shot).",
)
@click.option(
    "--keyframe-span",
    default=300,
    show_default=True,
    type=click.IntRange(min=0),
    help="Longest stretch before a keyframe coloured from both sides (held at working size, ~0.8 MB a frame); "
    "a longer one is coloured forward only.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run of the same output.")
@click.option("--fresh", is_flag=True, help="Discard an interrupted run of the same output and start over.")
@click.option("--shots", "shots", default=None, help="Shot file (from `vidcolor shots`, edited) to follow.")
@click.option(
    "--detector",
    default="luma",
    show_default=True,
    type=click.Choice(["luma", "scdet", "none"]),
    help="Cut detection for a folder of unindexed --refs (each shot gets its best-matching image).",
)
@threshold_option
@click.option("--start", default=None, help="Preview: start here (seconds, [HH:]MM:SS[.ms] or a frame number 240f).")
@click.option("--duration", default=None, help="Preview: this long (same forms); the output starts at time 0.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--ray", "ray_address", default=None, help="Shard by shots on Ray: local, auto or a cluster address.")
@click.option("--workers", type=int, default=None, help="Segments at once with --ray (default: GPUs, else CPUs/2).")
@model_options
@hints_option
def run(
    source,
    refs,
    output,
    batch,
    codec,
    crf,
    preset,
    fast,
    chunk_frames,
    no_propagate,
    keyframe_span,
    resume,
    fresh,
    shots,
    detector,
    threshold,
    start,
    duration,
    quiet,
    ray_address,
    workers,
    vgg,
    device,
    size,
    hints,
):
    """Colorize the video SOURCE into OUTPUT, keeping its audio, timing and metadata."""
    from vidcolor.io.encode import EncodeSettings
    from vidcolor.stream.pipeline import RunOptions
    from vidcolor.stream.timerange import parse_time
    from vidcolor.stream.video import run_video

    if fast:
        size, batch, preset = fast_settings(click.get_current_context(), size=size, batch=batch, preset=preset)
    options = RunOptions(batch, chunk_frames, EncodeSettings(codec, crf, preset), resume, fresh,
                         propagate=not no_propagate, keyframe_span=keyframe_span)  # fmt: skip
    if shots and refs:
        raise VidcolorError("give --shots (references inside) or --refs, not both")
    detector = None if detector == "none" else detector
    window = [parse_time(t, o) if t is not None else None for t, o in ((start, "--start"), (duration, "--duration"))]
    if (ray_address or workers is not None) and window != [None, None]:
        raise VidcolorError("--start/--duration preview one segment in this process: not with --ray or --workers")
    if ray_address or workers is not None:
        from vidcolor.scale.batch import run_sharded

        factory = lazy_predictor_factory(vgg, device, size, hints)
        run_sharded(source, output, refs, shots, detector, threshold, options, factory, ray_address, workers, quiet)
        return
    run_video(
        source,
        output,
        refs,
        lazy_predictor_factory(vgg, device, size, hints),
        options,
        quiet,
        shots,
        detector,
        threshold,
        start=window[0],
        duration=window[1],
    )


@cli.command()
@click.argument("jobs")
@click.option("--ray", "ray_address", default=None, help="Run the films on Ray: local, auto or a cluster address.")
@click.option("--workers", type=int, default=None, help="Segments at once with --ray (default: GPUs, else CPUs/2).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors and the films' results.")
@click.option("--vgg", type=click.Path(dir_okay=False), default=None)
@click.option("--device", default="auto", show_default=True)
def batch(jobs, ray_address, workers, quiet, vgg, device):
    """Colorize every film of the batch file JOBS (YAML: source, output, refs or shots, options per job)."""
    from vidcolor.scale.batch import run_batch

    sys.exit(run_batch(jobs, ray_address, workers, vgg, device, quiet))


@cli.command()
@click.argument("source")
@click.option("-o", "--output", "output", required=True, help="Shot file to write (.yaml; a .csv twin beside it).")
@click.option("--refs", default=None, help="Reference image or folder: fill in each shot's reference.")
@click.option("--detector", default="luma", show_default=True, type=click.Choice(["luma", "scdet"]))
@threshold_option
@click.option("--import", "import_csv", default=None, help="Take the cuts from a PySceneDetect (or our) CSV.")
@click.option("--quiet", is_flag=True)
@model_options
def shots(source, output, refs, detector, threshold, import_csv, quiet, vgg, device, size):
    """Detect the shots of SOURCE and write a shot file people can read and edit."""
    from vidcolor.shots.job import make_shots

    make_shots(source, output, refs, detector, threshold, lazy_predictor_factory(vgg, device, size), import_csv, quiet)


@cli.command()
@click.argument("source")
@click.option("--shots", default=None, help="Shot file to review (else the cuts are detected).")
@click.option("--refs", default=None, help="Reference image or folder, as for `run` (a folder: candidates per shot).")
@click.option("-o", "--output", "output", required=True, help="Review page to write (.html, self-contained).")
@click.option("--sheet", default=None, help="Also write a contact sheet PNG (first frame, preview, reference).")
@click.option("--detector", default="luma", show_default=True, type=click.Choice(["luma", "scdet"]))
@threshold_option
@click.option("--quiet", is_flag=True)
@model_options
@hints_option
def review(source, shots, refs, output, sheet, detector, threshold, quiet, vgg, device, size, hints):
    """A web page of SOURCE's shots to pick references in, with a coloured preview frame per shot."""
    from vidcolor.review.build import build_review

    factory = lazy_predictor_factory(vgg, device, size, hints)
    build_review(source, output, factory, shots, refs, detector, threshold, sheet, quiet)


@cli.command()
@click.argument("content")
@click.option("--ref", "ref", required=True, help="Style (colour) image.")
@click.option("-o", "--output", "output", required=True, help="Output image file.")
@model_options
def stylize(content, ref, output, vgg, device, size):
    """Photorealistic stylization of CONTENT with the transfer sub-net alone (CONTENT = REF reproduces it)."""
    from vidcolor.stream.still import stylize_image

    stylize_image(content, ref, output, lazy_predictor_factory(vgg, device, size))


cli.add_command(eval_cmd)
cli.add_command(bench)


@cli.group(cls=VidcolorGroup)
def weights() -> None:
    """Find, fetch, import and verify weight files."""


@weights.command("fetch-vgg")
@click.option("--url", default=None, help="Download from this URL instead of the Keras release.")
def fetch_vgg(url):
    """Download the Keras VGG19 notop release, check its md5, convert it into the cache."""
    from vidcolor import weights as w

    path = w.fetch_vgg(url or w.VGG_KERAS_URL)
    click.echo(f"VGG19 weights stored in {path}")


@weights.command("import-vgg")
@click.argument("file")
def import_vgg(file):
    """Import FILE (the Keras .h5, or a converted .pth) into the cache, checked."""
    from vidcolor import weights as w

    click.echo(f"VGG19 weights stored in {w.import_vgg(file)}")


@weights.command("status")
@click.option("--vgg", type=click.Path(dir_okay=False), default=None)
def status(vgg):
    """Show where every weight file comes from and verify the project's trained weights."""
    from vidcolor import weights as w

    try:
        click.echo(f"vgg19: {w.resolve_vgg(vgg)}")
    except VidcolorError as exc:
        click.echo(f"vgg19: MISSING ({exc})")
    manifest = w.read_manifest()
    if not manifest.get("models"):
        click.echo(f"trained: none in {w.weights_dir()}")
    for name, entry in sorted(manifest.get("models", {}).items()):
        try:
            w.load_trained(name)
            state = "ok"
        except VidcolorError as exc:
            state = f"BAD ({exc})"
        steps = entry.get("training", {}).get("steps", "?")
        click.echo(f"{name}: {entry['file']} {state}, {steps} steps, config {entry.get('config')}")


def _terminate(_signum, _frame) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, a job scheduler, a closing container) stops like Ctrl-C: work kept


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    keep_large_allocations()  # frame-sized buffers stay in the heap: no mmap/munmap and page faults per frame
    cli(prog_name="vidcolor")


if __name__ == "__main__":
    sys.exit(main())
