"""Freed memory kept for reuse in the batch commands (glibc's allocator only).

numpy and scipy take every array above 32 MB straight from the kernel (glibc's ``mmap`` threshold can go no
higher) and hand it back when it is freed, so the next array of that size is zero-filled again, page by page.
The pipeline makes such arrays all the time (signal blocks of users x products, Gram matrices, score chunks):
``segrec run`` on Online Retail spent ~14 of its ~126 CPU seconds in the kernel this way. With ``mmap`` off and
the heap's free top kept, a freed block is reused as it is (docs/benchmarks.md, "segrec run": same outputs,
kernel time ~14 -> ~6 s, peak RSS ~+15%). The API server does not call it: a long-running process should give
memory back. No library sets allocator options (they are the application's to choose), hence these lines.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
_KEEP_AT_TOP = 1 << 30  # bytes of free heap top kept before giving any back
_PAD = 256 << 20  # bytes asked of the kernel beyond each need (untouched pages cost nothing)


def keep_freed_memory() -> bool:
    """Tell glibc's ``malloc`` to serve large blocks from the heap and keep what is freed; False (nothing done)
    where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in
               ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEEP_AT_TOP), (_M_TOP_PAD, _PAD)))
