"""Files written atomically (a temporary name in the same folder, renamed when complete) with the permissions
any other new file gets: ``mkstemp`` creates 0600, so the file is set to 0666 minus the umask before the rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from vidcolor.errors import VidcolorError


def umask_mode(base: int = 0o666) -> int:
    """``base`` with the process umask applied (the umask can only be read by setting it: set it back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def follow_umask(path: str | os.PathLike) -> None:
    os.chmod(path, umask_mode())


def write_atomic(path: str | os.PathLike, write: Callable[[str], None], make_folder: bool = False) -> Path:
    """Call ``write(temporary path)`` then rename it to ``path``. Any OSError becomes a one-line VidcolorError
    and leaves nothing behind."""
    path = Path(path)
    tmp = None
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise VidcolorError(f"{path.parent}: output folder does not exist")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
        os.close(fd)
        write(tmp)
        follow_umask(tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise VidcolorError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text_atomic(path: str | os.PathLike, text: str, make_folder: bool = False) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            f.write(text)

    return write_atomic(path, write, make_folder)
