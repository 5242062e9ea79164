"""Pieces every command of the command line shares: the group that turns a VidcolorError into one line and exit
code 1, the model options (--vgg, --device, --size, --hints) and the predictor factory (torch imported only when it
is called). Kept apart so that cli.py holds the commands only."""

from __future__ import annotations

import click

from vidcolor.errors import VidcolorError


class VidcolorGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidcolorError as exc:
            click.echo(f"vidcolor: error: {exc}", err=True)
            ctx.exit(1)


FAST_PRESET = {"size": 128, "batch": 2, "preset": "veryfast"}  # `run --fast` and `bench --fast`


def lazy_predictor_factory(vgg, device, size, hints="match"):
    from vidcolor.preflight import predictor_factory  # torch is imported only when the factory is called

    return predictor_factory(vgg, device, size, hints)


def hints_option(f):
    return click.option(
        "--hints",
        default="match",
        show_default=True,
        type=click.Choice(["match", "match-frozen", "transfer"]),
        help="Where the colour hints come from: match (the reference's colours carried along learned matches of "
        "VGG features, refined by a net that sees the whole match), match-frozen (the untrained matcher and the "
        "sparse-hint refinement: the chain before the learned parts) or transfer (the paper's coarse AdaIN "
        "transfer; less accurate, see README).",
    )(f)


def model_options(f):
    f = click.option(
        "--vgg", type=click.Path(dir_okay=False), help="VGG19 weights (.pth); else $VIDCOLOR_VGG or the cache."
    )(f)
    f = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(f)
    f = click.option(
        "--size", default=256, show_default=True, help="Working size (short side, pixels) of the networks."
    )(f)
    return f
