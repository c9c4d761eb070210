"""How one stored value lies in an arena: a header, the in-band pickle, the out-of-band buffers.

```
 0        4        8                16               16+8n
 | "PMO1" | n: u32 | inband len: u64 | buffer lengths: n x u64 | inband pickle | pad | buf 0 |..
                                                                   buffers start 64-aligned
```
Values are pickled with protocol 5: buffers of at least ``OOB_MIN`` bytes (numpy arrays and
anything exporting contiguous buffers) are not copied into the pickle but written straight into
the arena, and read back as read-only views of it (no copy). :func:`encode` decides between the
two ways a value travels: *inline* (a plain pickle under ``THRESHOLD`` bytes, sent inside
messages, read back as a writable copy) and *stored* (this layout).

Imports nothing of the package but ``serialization``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pickle import PickleBuffer
from typing import Any

from pymesos_rt import serialization

MAGIC = b"PMO1"
_HEAD = struct.Struct("<4sIQ")
_LEN = struct.Struct("<Q")
ALIGN = 64
THRESHOLD = 512 * 1024  # values whose pickle is smaller travel inline
OOB_MIN = 64 * 1024  # buffers smaller than this stay in the pickle


def _up(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


class LayoutError(ValueError):
    """Bytes that are not a stored object's layout."""


@dataclass(frozen=True)
class Encoded:
    """A value to store: its in-band pickle and out-of-band buffers, and the layout's size."""

    inband: bytes
    buffers: list[memoryview]
    size: int


def size_of(inband_len: int, buffer_lens: list[int]) -> int:
    end = _HEAD.size + _LEN.size * len(buffer_lens) + inband_len
    for n in buffer_lens:
        end = _up(end) + n
    return end


def encode(
    value: Any, refs: list[str] | None = None, threshold: int = THRESHOLD
) -> bytes | Encoded:
    """Inline pickle bytes for a small value, else the parts to store (no buffer is copied).
    With ``refs``, the ids of references inside the value are appended there."""
    found: list[str] = []
    inband, buffers = serialization.dumps_oob(value, OOB_MIN, found)
    views = [b.raw() for b in buffers]
    total = len(inband) + sum(v.nbytes for v in views)
    if refs is not None:
        refs.extend(dict.fromkeys(found))
    if total < threshold:
        return serialization.dumps_value(value, []) if views else inband
    return Encoded(inband, views, size_of(len(inband), [v.nbytes for v in views]))


def write(dst: memoryview, enc: Encoded) -> None:
    """Write ``enc`` at the start of ``dst`` (which has at least ``enc.size`` bytes)."""
    n = len(enc.buffers)
    _HEAD.pack_into(dst, 0, MAGIC, n, len(enc.inband))
    pos = _HEAD.size
    for buf in enc.buffers:
        _LEN.pack_into(dst, pos, buf.nbytes)
        pos += _LEN.size
    dst[pos : pos + len(enc.inband)] = enc.inband
    pos += len(enc.inband)
    for buf in enc.buffers:
        pos = _up(pos)
        dst[pos : pos + buf.nbytes] = buf
        pos += buf.nbytes


def pieces(enc: Encoded) -> list[bytes | memoryview]:
    """The layout as consecutive pieces (for sending it without assembling it first)."""
    head = bytearray(_HEAD.size + _LEN.size * len(enc.buffers))
    _HEAD.pack_into(head, 0, MAGIC, len(enc.buffers), len(enc.inband))
    for i, buf in enumerate(enc.buffers):
        _LEN.pack_into(head, _HEAD.size + i * _LEN.size, buf.nbytes)
    out: list[bytes | memoryview] = [bytes(head), enc.inband]
    pos = len(head) + len(enc.inband)
    for buf in enc.buffers:
        pad = _up(pos) - pos
        if pad:
            out.append(bytes(pad))
        out.append(buf)
        pos += pad + buf.nbytes
    return out


def parts(src: memoryview) -> tuple[memoryview, list[tuple[int, int]]]:
    """The in-band pickle (a view) and each buffer's (start, length) within ``src``."""
    if src.nbytes < _HEAD.size:
        raise LayoutError(f"{src.nbytes} bytes are too few for a stored object")
    magic, n, inband_len = _HEAD.unpack_from(src, 0)
    if magic != MAGIC:
        raise LayoutError(f"not a stored object (magic {bytes(magic)!r})")
    pos = _HEAD.size
    lens = []
    for _ in range(n):
        lens.append(_LEN.unpack_from(src, pos)[0])
        pos += _LEN.size
    inband = src[pos : pos + inband_len]
    pos += inband_len
    spans = []
    for length in lens:
        pos = _up(pos)
        spans.append((pos, length))
        pos += length
    if pos > src.nbytes:
        raise LayoutError(f"stored object claims {pos} bytes but has {src.nbytes}")
    return inband, spans


# the in-band pickle of every stored ``bytes`` value (serialization.dumps_oob): the value is
# its one buffer, which a reader may copy out without unpickling (access.load_found)
BYTES_INBAND = serialization.dumps_oob(bytes(OOB_MIN), OOB_MIN)[0]


def is_bytes(inband: memoryview, spans: list[tuple[int, int]]) -> bool:
    """Whether a stored object (its :func:`parts`) is a ``bytes`` value: its one buffer."""
    return len(spans) == 1 and inband == BYTES_INBAND


def decode(src: memoryview, view: Any = None) -> Any:
    """The value stored in ``src``. Its buffers are read-only views of ``src`` made by
    ``view(start, length)`` (so the caller can tell when the value no longer uses them);
    by default plain slices."""
    inband, spans = parts(src)
    make = view or (lambda start, length: src[start : start + length].toreadonly())
    buffers = [PickleBuffer(make(start, length)) for start, length in spans]
    return serialization.loads_oob(inband, buffers)
