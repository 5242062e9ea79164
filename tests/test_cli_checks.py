"""Checks made before any work: usage errors as one line, encoder settings the output can take, outputs that would
replace an input, option values out of range."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from media import make_video
from test_cli import assert_one_line_error, run

from vidcolor.cli.options import fast_settings, int_list
from vidcolor.errors import VidcolorError
from vidcolor.io.encode import EncodeSettings, check_encoder
from vidcolor.io.paths import refuse_overwrite


@pytest.mark.parametrize(
    "args, needles",
    [
        (["run", "x.mp4", "-o", "y.mp4", "--batch", "abc"], ["--batch", "run --help"]),
        (["run", "-dash.mp4", "-o", "y.mp4"], ["-d", "./NAME"]),
        (["run", "x.mp4", "-o", "y.mp4", "--chunk-frames", "0"], ["--chunk-frames"]),
        (["run", "x.mp4", "-o", "y.mp4", "--threshold", "nan"], ["--threshold"]),
        (["image", "a.png"], ["--output"]),
        (["eval", "a.mp4", "--max-frames", "0"], ["--max-frames"]),
        (["bench", "--batches", "0"], ["--batches"]),
        (["bench", "--dtypes", "fp99"], ["fp99", "fp32"]),
        (["bench", "--stream-sizes", "65x47"], ["65x47", "even"]),
        (["nosuchcommand"], ["nosuchcommand"]),
    ],
)
def test_usage_errors_are_one_line_and_exit_1(args, needles):
    code, out = run(*args)
    assert code == 1
    assert_one_line_error(code, out, *needles)


def test_an_empty_list_means_none():
    assert int_list("") == [] and int_list("1,8") == [1, 8]  # `bench --sizes ""`: the streaming figures only


def test_fast_fills_in_only_what_the_command_line_leaves_out():
    @click.command()
    @click.option("--size", default=256)
    @click.option("--batch", default=4)
    @click.option("--preset", default="medium")
    def command(size, batch, preset):
        click.echo(repr(fast_settings(click.get_current_context(), size=size, batch=batch, preset=preset)))

    assert CliRunner().invoke(command, []).output.strip() == "(128, 2, 'veryfast')"
    assert CliRunner().invoke(command, ["--batch", "8"]).output.strip() == "(128, 8, 'veryfast')"


@pytest.mark.parametrize(
    "settings, output, needle",
    [
        (EncodeSettings(), "o.webm", "a .webm file cannot hold libx264 video (use --codec libvpx-vp9"),
        (EncodeSettings(codec="libvpx-vp9"), "o.mov", "a .mov file cannot hold libvpx-vp9"),
        (EncodeSettings(preset="bogus"), "o.mp4", "invalid preset 'bogus'"),
        (EncodeSettings(crf=52), "o.mp4", "--crf 52: libx264 takes 0 (lossless) to 51"),
        (EncodeSettings(crf=-1), None, "--crf -1"),
        (EncodeSettings(codec="aac"), None, "encodes audio, not video"),
        (EncodeSettings(codec="no-such-codec"), None, "no such encoder"),
    ],
)
def test_encoder_settings_that_cannot_work_are_refused(tmp_path, capfd, settings, output, needle):
    with pytest.raises(VidcolorError) as caught:
        check_encoder(settings, tmp_path / output if output else None)
    assert needle in str(caught.value)
    assert capfd.readouterr().err == ""  # the encoder's own complaint is in the line, not on stderr


@pytest.mark.parametrize(
    "settings, output",
    [
        (EncodeSettings(), "o.mp4"),
        (EncodeSettings(crf=0, preset="ultrafast"), "o.mov"),
        (EncodeSettings(codec="libvpx-vp9", crf=0), "o.webm"),
        (EncodeSettings(codec="libx265", crf=0), "o.mkv"),
    ],
)
def test_encoder_settings_that_work_pass_quietly(tmp_path, capfd, settings, output):
    check_encoder(settings, tmp_path / output)
    assert capfd.readouterr().err == ""  # x265's banner kept to errors


def test_webm_with_the_default_codec_fails_before_any_work(tmp_path, images):
    work = tmp_path / "work"
    work.mkdir()
    src = make_video(work / "in.mp4", frames=3)
    code, out = run("run", src, "--refs", images["ref"], "-o", work / "o.webm", "--fast")
    assert_one_line_error(code, out, "o.webm", "libvpx-vp9")
    assert sorted(p.name for p in work.iterdir()) == ["in.mp4"]  # no work folder, no partial output


def test_outputs_never_replace_inputs(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"x")
    with pytest.raises(VidcolorError, match="a file of the input folder"):
        refuse_overwrite([folder], [folder / "a.png"])
    refuse_overwrite([folder], [folder / "new.png"])  # a new file beside them replaces nothing
    (folder / "film.shots.yaml").write_text("")
    refuse_overwrite([folder], [folder / "film.shots.yaml"])  # an earlier run's output there is no input
    (tmp_path / "in.mp4").write_bytes(b"x")
    (tmp_path / "link.mp4").hardlink_to(tmp_path / "in.mp4")
    with pytest.raises(VidcolorError, match="overwrite the input"):
        refuse_overwrite([tmp_path / "in.mp4"], [tmp_path / "link.mp4"])


@pytest.mark.parametrize("command", ["eval", "bench", "shots"])
def test_commands_refuse_to_write_over_their_inputs(tmp_path, command):
    src = make_video(tmp_path / "in.mp4", frames=3)
    before = src.read_bytes()
    if command == "eval":
        args = ["eval", src, "--baselines-only", "--json", src]
    elif command == "bench":
        args = ["bench", "--clip", src, "--json", src]
    else:  # the shot file's .csv twin would replace the CSV it imports
        (tmp_path / "cuts.csv").write_text("Frame\n")
        args = ["shots", src, "-o", tmp_path / "cuts.yaml", "--import", tmp_path / "cuts.csv"]
    code, out = run(*args)
    assert_one_line_error(code, out, "overwrite")
    assert src.read_bytes() == before


def test_the_encoder_check_runs_with_stderr_closed(tmp_path):
    code = (
        "import sys; from pathlib import Path; from vidcolor.io.encode import EncodeSettings, check_encoder; "
        "check_encoder(EncodeSettings(), Path(sys.argv[1])); print('checked')"
    )
    done = subprocess.run(f"{sys.executable} -c \"{code}\" {tmp_path / 'o.mp4'} 2>&-", shell=True,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "checked", done
