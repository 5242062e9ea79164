"""Argument and file errors come before `import torch` (seconds on its own): one line in a fraction of a second."""

import json
import subprocess
import sys

from media import copy_stream, make_video
from PIL import Image

CHECK = """
import json, sys
from click.testing import CliRunner
from vidcolor.cli.commands import cli
results = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(cli, args)
    results.append([r.exit_code, r.output.strip(), "torch" in sys.modules])
print(json.dumps(results))
"""


def test_argument_errors_never_import_torch(tmp_path, images):
    src = make_video(tmp_path / "in.mp4", frames=3)
    audio_only = tmp_path / "sound.mkv"
    copy_stream(make_video(tmp_path / "tmp.mkv", frames=3, audio="aac"), audio_only, "audio", format="matroska")
    gray = tmp_path / "gray.png"
    Image.open(images["gray"]).save(gray)
    cases = {
        "no video stream": ["run", audio_only, "-o", tmp_path / "o.mp4"],
        "extension": ["run", src, "-o", tmp_path / "o.xyz"],
        "overwrite": ["run", src, "-o", src],
        "no such reference": ["run", src, "--refs", tmp_path / "nope.png", "-o", tmp_path / "o.mp4"],
        "grayscale": ["run", src, "--refs", gray, "-o", tmp_path / "o.mp4"],
        "--size": ["run", src, "--size", "5", "-o", tmp_path / "o.mp4"],
        "no such file": ["run", tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4"],
        "not an image": ["image", src, "-o", tmp_path / "o.png"],
        "image extension": ["image", images["gray"], "-o", tmp_path / "o.xyz"],
        "shots: no such file": ["shots", tmp_path / "missing.mp4", "-o", tmp_path / "s.yaml"],
    }
    args = [[str(a) for a in case] for case in cases.values()]
    proc = subprocess.run([sys.executable, "-c", CHECK, json.dumps(args)], capture_output=True, text=True, check=True)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for (name, _), (code, output, torch_loaded) in zip(cases.items(), results, strict=True):
        assert code == 1 and output.startswith("vidcolor: error:") and len(output.splitlines()) == 1, (name, output)
        assert name.split(": ")[-1].replace("image ", "") in output, (name, output)
        assert not torch_loaded, f"{name}: torch imported before the error"
