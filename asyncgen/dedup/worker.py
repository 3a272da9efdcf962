"""An embedder in a child process, so encoding never competes with the event loop for the GIL.

In-process, the static encoder's Python-level work shares the GIL with the engine's loop,
which on a CPU-bound run costs more wall time than the encoding itself (benchmarks.md).
`ProcessEmbedder.encode` is still a blocking call made from the gate's worker thread: it
writes the texts to the child's stdin and blocks reading the vectors from its stdout, and
blocking pipe I/O releases the GIL.

Wire format, both ways: an 8-byte little-endian length, then the payload: in, the texts
as UTF-8 (lone surrogates replaced) each behind a 4-byte length; out, a raw float32
C-order array behind the tag byte `V`, or an orjson error object behind `E`.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from typing import IO, TYPE_CHECKING, cast

import numpy as np
import orjson

from asyncgen.config.dedup import DedupSettings
from asyncgen.errors import EmbeddingError

if TYPE_CHECKING:
    from asyncgen.dedup.embedders import EmbedderInfo

_LEN = struct.Struct("<Q")
_ITEM = struct.Struct("<I")
# Each batch reply starts with a tag byte: raw float32 bytes can begin with any byte,
# including "{", so the payload alone cannot say whether it is an error.
_VECTORS = b"V"
_ERROR = b"E"


def pack_texts(texts: list[str]) -> bytes:
    """Texts as length-prefixed UTF-8 (anything unencodable replaced)."""
    parts = []
    for text in texts:
        data = text.encode("utf-8", "replace")
        parts.append(_ITEM.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def unpack_texts(payload: bytes) -> list[str]:
    """The inverse of `pack_texts`."""
    texts, offset = [], 0
    while offset < len(payload):
        (size,) = _ITEM.unpack_from(payload, offset)
        offset += _ITEM.size
        texts.append(payload[offset : offset + size].decode("utf-8"))
        offset += size
    return texts


def decode_reply(reply: bytes, count: int, dim: int) -> np.ndarray:
    """Vectors from a tagged batch reply.

    Raises:
        EmbeddingError: the child reported an error for this batch.
    """
    tag, body = reply[:1], reply[1:]
    if tag != _VECTORS:
        raise EmbeddingError(orjson.loads(body)["error"])
    return np.frombuffer(body, dtype=np.float32).reshape(count, dim).copy()


def _send(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LEN.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes | None:
    """One framed message, or None at end of stream."""
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (size,) = _LEN.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return body


class ProcessEmbedder:
    """Runs `load_embedder(settings)` in a child process and encodes through it."""

    def __init__(self, settings: DedupSettings) -> None:
        local = settings.model_copy(update={"worker_process": False})
        cmd = [sys.executable, "-m", "asyncgen.dedup.worker", local.model_dump_json()]
        # Its own session, as the simulator's: a Ctrl-C at the terminal (SIGINT to the whole
        # foreground group) must reach only the parent, which lets in-flight items finish
        # and check their uniqueness here (a killed worker made each of them fail with
        # "broken pipe"). The child still ends with the parent: its stdin closes.
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        hello = self._read()
        info = orjson.loads(hello)
        if "error" in info:
            self.close()
            raise EmbeddingError(info["error"])
        self.name: str = info["embedder"]
        self.dim: int = int(info["dim"])
        self._describe = cast("EmbedderInfo", info)  # the child's describe(), as JSON

    def _read(self) -> bytes:
        assert self._proc.stdout is not None
        message = _receive(self._proc.stdout)
        if message is None:
            code = self._proc.poll()
            raise EmbeddingError(f"the embedding worker process exited (code {code})")
        return message

    def encode(self, texts: list[str]) -> np.ndarray:
        """Send the texts, wait for their unit vectors (blocking; GIL released while waiting)."""
        assert self._proc.stdin is not None
        try:
            _send(self._proc.stdin, pack_texts(texts))
        except (BrokenPipeError, OSError) as exc:
            raise EmbeddingError(f"the embedding worker process is gone: {exc}") from exc
        return decode_reply(self._read(), len(texts), self.dim)

    def describe(self) -> EmbedderInfo:
        """What the child loaded (same as the in-process embedder's description)."""
        return self._describe.copy()

    def close(self) -> None:
        """Close the pipes and wait for the child to exit."""
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None and self._proc.poll() is None:
            self.close()


def serve(settings: DedupSettings, inp: IO[bytes], out: IO[bytes]) -> None:
    """The child's loop: load the embedder, say hello, answer each batch until EOF."""
    from asyncgen.dedup.embedders import load_embedder

    try:
        embedder = load_embedder(settings)
    except Exception as exc:  # reported to the parent, which raises EmbeddingError
        _send(out, orjson.dumps({"error": str(exc)}))
        return
    _send(out, orjson.dumps(embedder.describe()))
    while (message := _receive(inp)) is not None:
        try:
            vectors = embedder.encode(unpack_texts(message))
            _send(out, _VECTORS + np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        except Exception as exc:  # one bad batch is reported, the worker lives on
            _send(out, _ERROR + orjson.dumps({"error": f"encode failed: {exc}"}))


def main() -> None:
    """Entry point of `python -m asyncgen.dedup.worker SETTINGS_JSON`."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings = DedupSettings.model_validate_json(sys.argv[1])
    serve(settings, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
