"""Large host buffers kept in the process instead of mapped and unmapped per frame (glibc only; no torch here).

glibc serves every allocation above its mmap threshold (128 KB, raised dynamically up to 32 MB) with a fresh mmap
and gives it back with munmap on free, so each frame's planes, the networks' activations and the codecs' buffers
fault their pages in again, frame after frame: on the 2-core dev machine `vidcolor run` on a 240-frame 640x360 clip
took 111 s, 68 s of CPU time in the kernel (2.20 fps); with large blocks kept in the heap, 83 s and 23 s (2.95 fps,
the model stage's own speed). The memory kept is what the run already peaks at (the heap is not returned to the OS
until the process ends or a free top of heap exceeds the trim threshold).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>


def keep_large_allocations(threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds to ``threshold`` bytes. True where it took effect (glibc), False
    elsewhere (macOS, Windows, musl): nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) and bool(mallopt(M_TRIM_THRESHOLD, threshold))
