"""Output paths checked before any work: an output never replaces an input, and its folder exists.

An input is a file given on the command line (a video, a reference, a shot file, a CSV) or a folder of images (of
references or of ground-truth frames: every image directly inside it is an input; other files there, such as an
earlier run's shot file, are not). Checked by resolved path and, for existing files, by identity (a hard link or
another name of the same file)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from vidcolor.errors import VidcolorError
from vidcolor.io.image import IMAGE_EXTS


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def refuse_overwrite(inputs: Iterable[str | os.PathLike | None], outputs: Iterable[str | os.PathLike | None]) -> None:
    """A one-line error when an output would replace an input, or a file inside an input folder (None: skipped)."""
    ins = [Path(p) for p in inputs if p is not None]
    for o in (Path(p) for p in outputs if p is not None):
        for i in ins:
            inside = i.is_dir() and o.suffix.lower() in IMAGE_EXTS and o.exists() and _same(o.parent, i)
            if _same(o, i) or inside:
                what = f"the input {i}" if not inside else f"a file of the input folder {i}"
                raise VidcolorError(f"{o}: output would overwrite {what}")


def check_output_folder(*outputs: str | os.PathLike | None) -> None:
    """A one-line error when an output's folder does not exist (None: skipped)."""
    for o in (Path(p) for p in outputs if p is not None):
        if not o.parent.is_dir():
            raise VidcolorError(f"{o.parent}: output folder does not exist (for {o.name})")
        if o.is_dir():
            raise VidcolorError(f"{o}: is a folder; give a file name")
