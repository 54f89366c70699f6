"""How the C heap keeps the memory of freed arrays (glibc only).

By default glibc hands the top of its heap back to the OS as soon as 16 MB
or so of it is free (the threshold follows the largest array freed lately),
and serves arrays over 8 MB or so with fresh mappings. A program on 1e6
numbers frees nearly all of its arrays at the end of each run; the next run
then page-faults all of that memory back in, about 3,500 faults and a third
of the run's time in a loop of runs (bench: elem_1e6, 1.3x the hand-written
numpy before, 1.07x after). Fixed thresholds make the heap keep up to
256 MB of free memory for reuse, for arrays up to 32 MB (glibc's upper
bound); larger arrays still get, and give back, mappings of their own.

Set once, by the first op on many numbers, so that small programs and the
start-up of the command never pay for loading ctypes.
"""

from __future__ import annotations

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3      # glibc's mallopt parameters
_KEEP_FREE = 256 << 20
_LARGEST_FROM_HEAP = 32 << 20

_done = False


def keep_freed_memory() -> None:
    global _done
    if _done:
        return
    _done = True
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):     # not glibc (macOS, musl, Windows): leave it be
        return
    mallopt(_M_MMAP_THRESHOLD, _LARGEST_FROM_HEAP)
    mallopt(_M_TRIM_THRESHOLD, _KEEP_FREE)
