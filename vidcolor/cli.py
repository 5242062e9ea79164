"""Command line: each command parses its options, then delegates. User errors print one line, exit 1."""

from __future__ import annotations

import functools
import sys

import click

from vidcolor import __version__
from vidcolor.errors import VidcolorError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidcolorError as exc:
            click.echo(f"vidcolor: error: {exc}", err=True)
            ctx.exit(1)


def _predictor_factory(vgg, device, size):
    from vidcolor.predictor import Predictor, check_size

    check_size(size)
    return functools.partial(Predictor.from_pretrained, vgg=vgg, device=device, size=size)


def model_options(f):
    f = click.option(
        "--vgg", type=click.Path(dir_okay=False), help="VGG19 weights (.pth); else $VIDCOLOR_VGG or the cache."
    )(f)
    f = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(f)
    f = click.option(
        "--size", default=256, show_default=True, help="Working size (short side, pixels) of the networks."
    )(f)
    return f


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidcolor")
def cli() -> None:
    """Colorize black-and-white images and video from colour reference images."""


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--ref", "ref", default=None, help="Colour reference image; omitted = automatic colorization.")
@click.option("-o", "--output", "output", required=True, help="Output file (one target) or folder (several).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@model_options
def image(targets, ref, output, quiet, vgg, device, size):
    """Colorize still images TARGETS (colour targets are reduced to gray first)."""
    from vidcolor.still import colorize_images

    colorize_images(list(targets), ref, output, _predictor_factory(vgg, device, size), quiet=quiet)


@cli.command()
@click.argument("content")
@click.option("--ref", "ref", required=True, help="Style (colour) image.")
@click.option("-o", "--output", "output", required=True, help="Output image file.")
@model_options
def stylize(content, ref, output, vgg, device, size):
    """Photorealistic stylization of CONTENT with the transfer sub-net alone (CONTENT = REF reproduces it)."""
    from vidcolor.still import stylize_image

    stylize_image(content, ref, output, _predictor_factory(vgg, device, size))


@cli.group(cls=_Group)
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


def main() -> None:
    cli(prog_name="vidcolor")


if __name__ == "__main__":
    sys.exit(main())
