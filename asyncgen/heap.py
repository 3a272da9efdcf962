"""The C heap under a long run: large short-lived buffers get their own mappings.

glibc serves an allocation of at least `M_MMAP_THRESHOLD` (128 KiB at start) with a
mapping of its own, handed back to the system when freed. But each time such a block
is freed, glibc raises the threshold to that block's size (up to 32 MiB). Batch mode
frees 1 MiB upload and download chunks and 256 KiB input-file writes in its first
round, so from then on every such buffer is carved out of the heap, between the live
conversations' strings; once freed it leaves holes the heap cannot give back, and the
process grows with every round although the objects alive stay the same (n=60,000 in
batch mode: 159 MB of C heap for 20-80 MB in use; the Python objects and pymalloc's
arenas stayed flat). Pinning the threshold (setting it turns the raise off) keeps those
buffers out of the heap: its size stays ~100 MB and RSS stops growing with n.

Batch mode also caps glibc's arenas at two (`limit_arenas`): answers parsed in worker
threads live on in the conversations, and each thread's own arena kept part-used pages
(n=40,000 and 100,000: 1-8 MB less at the plateau over three pairs of runs).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Any

logger = logging.getLogger("asyncgen.heap")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
DEFAULT_MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value

_pinned: int | None = None


def _libc() -> Any | None:
    """glibc, or None elsewhere (musl, macOS, Windows have no `mallopt` to set)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")  # already loaded: no search (find_library forks)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def pin_mmap_threshold(size: int = DEFAULT_MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at `size` bytes for the rest of the process.

    Idempotent (once per process; a later call with another size changes it). Returns
    False where there is no glibc, or when `mallopt` refuses the value.
    """
    global _pinned
    if _pinned == size:
        return True
    libc = _libc()
    if libc is None:
        return False
    if not libc.mallopt(ctypes.c_int(M_MMAP_THRESHOLD), ctypes.c_int(size)):
        logger.debug("mallopt(M_MMAP_THRESHOLD, %d) refused", size)
        return False
    _pinned = size
    return True


def give_back_free_pages() -> bool:
    """Return the heap's wholly free pages to the system (`malloc_trim(0)`): blocking
    (tens of ms on a 100 MB heap; run it off the loop). False where there is no glibc.

    Pinning stops big buffers fragmenting the heap, but a round's burst of conversation
    strings still leaves free runs between the ones that live on; the heap keeps them
    (only its top is trimmed on its own), so each round's burst could land elsewhere.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(ctypes.c_size_t(0))
    return True


M_ARENA_MAX = -8  # glibc's mallopt parameter number
ARENAS = 2  # the loop's (main) arena and one for every worker thread

_arenas: int | None = None


def limit_arenas(count: int = ARENAS) -> bool:
    """Let glibc create no more than `count` arenas from now on (default: 8 per core).

    Worker threads parse a round's answers and write its files; each thread's first
    allocation may open an arena of its own, and the strings parsed there live on in
    the conversations, so every arena keeps part-used pages. Idempotent; False where
    there is no glibc or `mallopt` refuses.
    """
    global _arenas
    if _arenas == count:
        return True
    libc = _libc()
    if libc is None or not libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(count)):
        return False
    _arenas = count
    return True
