"""Frame-sized slots of memory shared with another process (numpy, no torch): the encoder process's input.

The ring lives in a memfd on Linux (anonymous: nothing to clean up, handed to the child as an inherited descriptor)
and in a temporary file elsewhere (handed over by name, the name removed once both sides have mapped it). Its
memory is taken when it is made, so a lack of memory is an error then, not a SIGBUS at a copy later. A slot holds
one frame's planes: luma (H, W) then chroma (2, h, w), of the planar format's dtype.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile

import numpy as np

from vidcolor.io.yuv import PlanarFormat

RING_BYTES = 256 << 20  # at most this much shared memory; at least two slots whatever the frame size
MAX_SLOTS = 8


def frame_bytes(fmt: PlanarFormat) -> int:
    """Bytes of one frame's planes: luma (H, W) then chroma (2, h, w), of ``fmt.dtype``."""
    h, w = fmt.chroma_shape
    return (fmt.height * fmt.width + 2 * h * w) * np.dtype(fmt.dtype).itemsize


def slot_planes(ring, slot: int, fmt: PlanarFormat) -> tuple[np.ndarray, np.ndarray]:
    """Views of slot ``slot`` of ``ring`` (a buffer of whole slots): luma (H, W) and chroma (2, h, w)."""
    size, dtype = frame_bytes(fmt), np.dtype(fmt.dtype)
    luma_count = fmt.height * fmt.width
    luma = np.frombuffer(ring, dtype, luma_count, slot * size).reshape(fmt.height, fmt.width)
    chroma_offset = slot * size + luma_count * dtype.itemsize
    chroma = np.frombuffer(ring, dtype, size // dtype.itemsize - luma_count, chroma_offset)
    return luma, chroma.reshape(2, *fmt.chroma_shape)


def _ring_file(size: int) -> tuple[int, str | None]:
    """A file of ``size`` bytes for the ring: (fd, None) for an anonymous memfd (Linux), else (fd, its path)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("vidcolor-encoder-ring")
        path = None
    else:
        fd, path = tempfile.mkstemp(prefix="vidcolor-ring-")
    try:  # the memory (or disk) is taken now: ENOSPC/ENOMEM here, not SIGBUS at a copy later
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)
        else:
            block = bytes(16 << 20)
            for start in range(0, size, len(block)):
                os.write(fd, block[: min(len(block), size - start)])
    except OSError:
        os.close(fd)
        if path:
            os.unlink(path)
        raise
    return fd, path


def attach(where: int | str, slots: int, fmt: PlanarFormat) -> mmap.mmap:
    """The other side's view of a ring (``FrameRing.where``: an inherited descriptor or a file name)."""
    size = slots * frame_bytes(fmt)
    if isinstance(where, int):
        return mmap.mmap(where, size)
    with open(where, "r+b") as f:
        return mmap.mmap(f.fileno(), size)


class FrameRing:
    """The owner's side: ``slots`` slots (as many as ``ring_bytes`` holds, 2 to MAX_SLOTS), which are free."""

    def __init__(self, fmt: PlanarFormat, ring_bytes: int = RING_BYTES) -> None:
        self.fmt = fmt
        self.slots = max(2, min(MAX_SLOTS, ring_bytes // frame_bytes(fmt)))
        size = self.slots * frame_bytes(fmt)
        self.fd, self.path = _ring_file(size)
        self._map = None
        try:
            self._map = mmap.mmap(self.fd, size)
        except OSError:
            self.close()
            raise
        self.free = list(range(self.slots))

    @property
    def where(self) -> int | str:
        """What the other side attaches to: the file's name, or the descriptor it inherits (``pass_fds``)."""
        return self.path or self.fd

    def put(self, luma: np.ndarray, chroma: np.ndarray) -> int:
        """Copy a frame's planes into a free slot (there must be one); returns the slot."""
        slot = self.free.pop()
        ring_luma, ring_chroma = slot_planes(self._map, slot, self.fmt)
        if luma.shape != ring_luma.shape or chroma.shape != ring_chroma.shape:
            self.free.append(slot)
            raise ValueError(f"planes {luma.shape} + {chroma.shape} do not fit {self.fmt.pix_fmt}")
        np.copyto(ring_luma, luma)
        np.copyto(ring_chroma, chroma)
        return slot  # no view outlives the call (the ring is unmapped at the end)

    def forget_name(self) -> None:
        """Remove the ring's file name, where there is one (Windows refuses while it is mapped: then at close)."""
        if self.path:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
                self.path = None

    def close(self) -> None:
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a view still held somewhere: unmapped when it goes
                self._map.close()
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.forget_name()
