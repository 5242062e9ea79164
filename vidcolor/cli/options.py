"""Pieces every command of the command line shares: the group that turns a VidcolorError into one line and exit
code 1, the model options (--vgg, --device, --size, --hints) and the predictor factory (torch imported only when it
is called). Kept apart so that commands.py holds the commands only."""

from __future__ import annotations

import math
import os
import sys

import click

from vidcolor.errors import VidcolorError


def usage_line(exc: click.ClickException) -> str:
    """Click's usage error (a wrong option, a missing argument, a value of the wrong type) as one line."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.NoSuchOption) and not exc.possibilities:
        message += " (a file name starting with '-': write ./NAME, or put -- before it)"
    if ctx is not None and isinstance(exc, click.UsageError):
        message += f" (see {ctx.command_path} --help)"
    return message


class VidcolorGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidcolorError as exc:
            click.echo(f"vidcolor: error: {exc}", err=True)
            ctx.exit(1)

    def main(self, args=None, prog_name=None, **extra):
        """As click's, but a usage error is one line ``vidcolor: error: ...`` and exit code 1, like every error."""
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.Abort:  # Ctrl-C or SIGTERM (the run has said what it kept)
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.exceptions.NoArgsIsHelpError as exc:  # `vidcolor` alone: the help, as before
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"vidcolor: error: {usage_line(exc)}", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


FAST_PRESET = {"size": 128, "batch": 2, "preset": "veryfast"}  # `run --fast` and `bench --fast`
DTYPES = ("fp32", "fp16", "bf16")
POSITIVE = click.IntRange(min=1)


def fast_settings(ctx: click.Context, **values):
    """``--fast``'s size, batch and preset where the command line does not set them (what it sets wins)."""
    given = {n for n in values if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE}
    return tuple(values[n] if n in given else FAST_PRESET[n] for n in values)


def threshold_option(f):
    def finite(ctx, param, value):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise click.BadParameter(f"{value} is not a positive number", ctx, param)
        return value

    return click.option("--threshold", type=float, default=None, callback=finite,
                        help="Detector threshold (luma: 30, scdet: 5).")(f)  # fmt: skip


def int_list(text: str) -> list[int]:
    """Comma-separated positive integers: 1,8 -> [1, 8]; empty -> [] (`bench --sizes ""`: streaming figures only)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if values and min(values) < 1:
        raise click.BadParameter(f"{text!r}: each value must be at least 1")
    return values


def size_list(text: str | None) -> list[tuple[int, int]] | None:
    """WIDTHxHEIGHT list: 1920x1080,3840x2160 -> [(1920, 1080), (3840, 2160)], each even and at least 16 (4:2:0)."""
    if not text:
        return None
    try:
        sizes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",") if item.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of WIDTHxHEIGHT sizes") from None
    if any(len(s) != 2 or min(s) < 16 or s[0] % 2 or s[1] % 2 for s in sizes):
        raise click.BadParameter(f"{text!r}: each size is WIDTHxHEIGHT, both even and at least 16")
    return sizes


def dtype_list(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated dtypes: fp32,bf16 -> ("fp32", "bf16"), each one of DTYPES."""
    if text is None:
        return None
    values = tuple(d.strip() for d in text.split(",") if d.strip())
    unknown = [d for d in values if d not in DTYPES]
    if unknown or not values:
        raise click.BadParameter(f"{text!r}: choose from {', '.join(DTYPES)}")
    return values


def lazy_predictor_factory(vgg, device, size, hints="match"):
    from vidcolor.chain.factory import predictor_factory  # torch is imported only when the factory is called

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


def _set_precision(ctx, param, value):
    """--precision reaches every predictor this command builds (and its Ray workers) through the environment."""
    if value:
        from vidcolor.chain.precision import ENV

        os.environ[ENV] = value
    return value


def model_options(f):
    f = click.option(
        "--vgg", type=click.Path(dir_okay=False), help="VGG19 weights (.pth); else $VIDCOLOR_VGG or the cache."
    )(f)
    f = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(f)
    f = click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
        default=None,
        expose_value=False,
        callback=_set_precision,
        help="The networks' number format (default auto: bf16 where the CPU or GPU computes it natively, else "
        "fp32; fp16 on CUDA only).",
    )(f)
    f = click.option(
        "--size", default=256, show_default=True, help="Working size (short side, pixels) of the networks."
    )(f)
    return f
