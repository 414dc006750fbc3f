"""Freed memory kept for reuse in the batch commands (glibc's allocator, and Arrow's memory pool).

numpy and scipy take every array above 32 MB straight from the kernel (glibc's ``mmap`` threshold can go no
higher) and hand it back when it is freed, so the next array of that size is zero-filled again, page by page.
The pipeline makes such arrays all the time (signal blocks of users x products, Gram matrices, score chunks):
``segrec run`` on Online Retail spent ~14 of its ~126 CPU seconds in the kernel this way. With ``mmap`` off and
the heap's free top kept, a freed block is reused as it is (docs/benchmarks.md, "segrec run": same outputs,
kernel time ~14 -> ~6 s, peak RSS ~+15%). The API server does not call it: a long-running process should give
memory back. No library sets allocator options (they are the application's to choose), hence these lines.

Arrow's buffers (the CSV parser's blocks, the checked batches, Arrow-backed pandas strings) come from its own
pool, mimalloc by default, which hands freed pages back at once: reading a 5M-row CSV spent ~5 of its ~14 CPU
seconds in the kernel. jemalloc, which Arrow ships as well, keeps them for ``ARROW_DECAY_MS`` first: same peak
memory, about half the kernel time and a quarter less wall time (docs/benchmarks.md, "Ingestion").
``ARROW_DEFAULT_MEMORY_POOL`` in the environment (the user's choice) is left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
_KEEP_AT_TOP = 1 << 30  # bytes of free heap top kept before giving any back
_PAD = 256 << 20  # bytes asked of the kernel beyond each need (untouched pages cost nothing)
ARROW_DECAY_MS = 1000  # how long jemalloc keeps Arrow's freed pages before it gives them back


def keep_freed_memory() -> bool:
    """Tell glibc's ``malloc`` to serve large blocks from the heap and keep what is freed, and Arrow to allocate
    from jemalloc, which keeps freed pages a second; False (glibc left as it is) where the C library is not
    glibc."""
    _arrow_pool()
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in
               ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEEP_AT_TOP), (_M_TOP_PAD, _PAD)))


def _arrow_pool() -> bool:
    """Arrow's default pool: jemalloc keeping freed pages ``ARROW_DECAY_MS``; False where the user chose a pool
    (``ARROW_DEFAULT_MEMORY_POOL``) or this pyarrow has no jemalloc."""
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or "jemalloc" not in pa.supported_memory_backends():
        return False
    pa.jemalloc_set_decay_ms(ARROW_DECAY_MS)
    pa.set_memory_pool(pa.jemalloc_memory_pool())
    return True
