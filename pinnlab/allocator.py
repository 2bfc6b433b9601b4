"""Keeps the training step's large temporary buffers in the heap instead of fresh pages.

glibc's ``malloc`` serves blocks above its mmap threshold (128 KiB at first, adjusted
as blocks are freed, at most 32 MiB) with fresh ``mmap`` pages, and returns the top of
the heap to the system once more than its trim threshold is free there. A PINN step
allocates and frees the same tensors of a few hundred KiB to a few MiB every
iteration, so each step page-faults its buffers in anew: on this project's 2-core CPU
that was about a third of a small Burgers step (the fused jet kernel's forward took 1.5
ms in training against 0.45 ms with warm memory). :func:`tune` raises both thresholds
once per process (mmap 32 MiB, trim 1 GiB), so that freed buffers are reused.

It changes only where ``malloc`` takes memory from, for the whole process: memory
freed by training is kept for reuse instead of being handed back (peak use is
unchanged). It is skipped off glibc, when ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` are set (the user's choice stands), and with
``PINNLAB_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done: list[bool] = []


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds (once); whether they are now raised."""
    if _done:
        return _done[0]
    ok = False
    if (sys.platform.startswith("linux")
            and os.environ.get("PINNLAB_MALLOC_TUNING", "1").strip().lower() not in ("0", "false", "no", "off")
            and "MALLOC_MMAP_THRESHOLD_" not in os.environ and "MALLOC_TRIM_THRESHOLD_" not in os.environ):
        try:
            libc = ctypes.CDLL(None)
            mallopt = libc.mallopt
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            ok = bool(mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
        except (OSError, AttributeError):
            ok = False
    _done.append(ok)
    return ok
