"""Every file vidcolor writes follows the umask, like any other program's (mkstemp alone gives 0600)."""

import os
import stat
from fractions import Fraction

import numpy as np
import pytest

from vidcolor.errors import VidcolorError
from vidcolor.evaluate.report import write_json
from vidcolor.io.atomic import write_text_atomic
from vidcolor.io.image import write_image
from vidcolor.shots.files import Shot, ShotFile, write_csv, write_yaml


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_follow_the_umask(tmp_path, umask):
    data = ShotFile([Shot(0, 5), Shot(5, 9)], 9, Fraction(24), "in.mp4", 0.375, "luma")
    write_yaml(tmp_path / "s.shots.yaml", data)
    write_csv(tmp_path / "s.csv", data)
    write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "sub").mkdir()
    write_json(tmp_path / "sub" / "r.json", {"a": 1})
    expected = 0o666 & ~umask
    for name in ("s.shots.yaml", "s.csv", "x.png", "sub/r.json"):
        assert mode(tmp_path / name) == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.shots.yaml", "sub", "x.png"]  # no temp left


def test_unwritable_destination_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(VidcolorError, match="cannot write"):
        write_text_atomic(blocker / "x.txt", "hi", make_folder=True)
    with pytest.raises(VidcolorError, match="does not exist"):
        write_image(tmp_path / "none" / "x.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(VidcolorError, match="does not exist"):  # as every other output: no folder made
        write_json(tmp_path / "none" / "r.json", {"a": 1})
