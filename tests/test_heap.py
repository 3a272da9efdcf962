"""The C heap pin (`asyncgen.heap`): large freed buffers no longer pull later ones into
the heap, where they fragment it; batch mode pins it when its client starts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asyncgen import heap

pytestmark = pytest.mark.skipif(heap._libc() is None, reason="needs glibc")

# In a child process (the pin is process-wide): does a 3 MiB block (larger than any free
# run the heap has after start-up) get a mapping of its own after an 8 MiB block was
# freed? glibc's `mallinfo2().hblkhd` counts mapped bytes.
PROBE = """
import ctypes
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
def own_mapping():
    big = bytearray(8 << 20)  # mapped; freeing it raises an unpinned threshold to 8 MiB
    del big
    before = libc.mallinfo2().hblkhd
    block = bytearray(3 << 20)
    return libc.mallinfo2().hblkhd - before >= 3 << 20
"""


def run_probe(body: str, tmp_path: Path) -> list[str]:
    script = PROBE + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    return done.stdout.split()


def test_pinning_keeps_large_buffers_out_of_the_heap(tmp_path: Path) -> None:
    """Unpinned, a freed 8 MiB buffer sends the next 3 MiB ones into the heap; pinned
    from the start, they get mappings of their own (given back whole when freed)."""
    unpinned = run_probe("print(own_mapping(), own_mapping())", tmp_path)
    pinned = run_probe(
        """
        from asyncgen import heap
        print(heap.pin_mmap_threshold(), own_mapping(), own_mapping())
        """,
        tmp_path,
    )
    assert unpinned == ["False", "False"]
    assert pinned == ["True", "True", "True"]


def test_a_started_batch_client_has_pinned_the_threshold(tmp_path: Path) -> None:
    """Batch mode frees 1 MiB upload and download chunks every round: once its client
    has started, such a free no longer moves later buffers into the heap, and its worker
    threads share the capped arenas."""
    out = run_probe(
        ARENA_PROBE
        + textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from asyncgen.config.llm import LLMSettings
        from asyncgen.llm import Transport
        from asyncgen.llm.batch_api import BatchAPI
        from asyncgen.llm.batch_client import BatchClient

        async def main():
            url = "http://127.0.0.1:9/v1"
            settings = LLMSettings(provider="compatible", base_url=url, model="m")
            transport = Transport.from_settings(settings, api_key=None, base_url=url)
            client = BatchClient(
                transport, settings, BatchAPI(url, None, settings.timeouts), Path({str(tmp_path)!r})
            )
            await client.start()
            try:
                print(own_mapping())
                held = threads_allocate()
                print(arenas())
            finally:
                await client.aclose()
                await transport.aclose()

        asyncio.run(main())
        """),
        tmp_path,
    )
    assert out == ["True", "2"]


def test_freed_pages_inside_the_heap_go_back_to_the_system(tmp_path: Path) -> None:
    """40 MB of 1 KB strings, one in 64 kept (so the heap's top cannot shrink): freeing
    the rest leaves the pages resident until `give_back_free_pages`."""
    out = run_probe(
        """
        import os
        from asyncgen import heap
        def resident():
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        blocks = [bytes(1000) + bytes([i % 256]) for i in range(40_000)]
        kept = blocks[::64]
        del blocks
        before = resident()
        print(heap.give_back_free_pages(), (before - resident()) >> 20)
        """,
        tmp_path,
    )
    assert out[0] == "True" and int(out[1]) >= 20, out


ARENA_PROBE = """
import ctypes, os, tempfile, threading
from asyncgen import heap
stdio = ctypes.CDLL("libc.so.6")  # its own handle: PROBE set mallinfo2 on `libc`
stdio.fopen.restype = ctypes.c_void_p
stdio.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
stdio.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
stdio.fclose.argtypes = [ctypes.c_void_p]
def arenas():
    path = tempfile.mktemp()
    out = stdio.fopen(path.encode(), b"w")
    stdio.malloc_info(0, out)
    stdio.fclose(out)
    with open(path) as info:
        text = info.read()
    os.unlink(path)
    return text.count("<heap nr=")
def threads_allocate(count=8):
    held = []
    together = threading.Barrier(count)
    def work():
        together.wait()  # all alive at once: a finished thread's arena would be reused
        held.append([bytearray(2000) for _ in range(100)])
        together.wait()
    workers = [threading.Thread(target=work) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return held
"""


def test_worker_threads_share_the_capped_arenas(tmp_path: Path) -> None:
    """Each new thread's first allocation opens an arena of its own (up to 8 per core);
    with the cap, eight threads share the two."""
    unlimited = run_probe(ARENA_PROBE + "held = threads_allocate(); print(arenas())", tmp_path)
    limited = run_probe(
        ARENA_PROBE + "print(heap.limit_arenas()); held = threads_allocate(); print(arenas())",
        tmp_path,
    )
    assert int(unlimited[0]) > 2
    assert limited == ["True", "2"]
