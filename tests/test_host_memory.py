"""glibc keeps frame-sized buffers in the heap once vidcolor raises its thresholds; elsewhere nothing changes."""

import platform
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidcolor.host_memory import keep_large_allocations

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_thresholds_take_effect_on_glibc_only():
    assert keep_large_allocations() is GLIBC
    assert keep_large_allocations() is GLIBC  # idempotent


def _faults_of_a_buffer(nbytes: int) -> int:
    """Minor page faults of allocating, filling and freeing one buffer (as a run does per batch)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buf = np.empty(nbytes, np.uint8)
    buf.fill(1)
    del buf
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_large_buffers_come_back_from_the_heap_without_page_faults():
    """In a fresh interpreter (the suite's earlier tests may have left the heap holding such a buffer already)."""
    code = (
        "import tests.test_host_memory as t; from vidcolor.host_memory import keep_large_allocations; "
        "keep_large_allocations(); size = 96 << 20; "  # above glibc's largest dynamic mmap threshold (32 MB)
        "print(t._faults_of_a_buffer(size), *[t._faults_of_a_buffer(size) for _ in range(4)])"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    first, *again = (int(x) for x in out.stdout.split())
    assert first > 100 and max(again) < first / 4, (first, again)
