"""A minimal DICOM header walker for the hot paths (scan of thousands of files, series loading).

parse_fast() walks the top-level elements of a little-endian file (explicit or implicit VR) and keeps
the raw bytes of the tags asked for, stopping at the pixel data, whose offset and length it reports.
Nested sequences are skipped, not parsed. Anything unusual (big endian, deflate, odd structure)
returns None and the caller falls back to pydicom, which remains the reference reader.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["FastHeader", "parse_fast"]

_LONG_VRS = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"SV", b"UV", b"UC", b"UR"}
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_OR_DEFLATE = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
_UNDEF = 0xFFFFFFFF
_PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")


class _NeedMore(Exception):
    """The buffer ended before the header did."""


class _Unusual(Exception):
    """A structure this walker does not handle; use pydicom."""


@dataclass
class FastHeader:
    """Raw top-level values (tag -> bytes) and where the pixel data lies."""

    values: dict[int, bytes]
    transfer_syntax: str
    implicit_vr: bool
    file_size: int
    pixel_tag: int | None
    pixel_offset: int
    pixel_length: int


def _skip_undefined(buf: bytes, pos: int, explicit: bool) -> int:
    """From just after an undefined-length SQ header, return the position after its delimiter."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise _NeedMore
        group, elem = _TAG.unpack_from(buf, pos)
        length = _U32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if group != 0xFFFE:
            raise _Unusual
        if elem == 0xE0DD:  # sequence delimiter
            return pos
        if elem != 0xE000:
            raise _Unusual
        if length != _UNDEF:
            pos += length
            continue
        pos = _walk(buf, pos, explicit, None, None, until_item_end=True)


def _walk(
    buf: bytes, pos: int, explicit: bool, wanted: frozenset[int] | None, out: dict[int, bytes] | None,
    until_item_end: bool = False,
) -> int:  # fmt: skip
    """Walk elements from pos; top level stops at pixel data (returns its element start)."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            if not until_item_end and pos == n:
                return pos
            raise _NeedMore
        group, elem = _TAG.unpack_from(buf, pos)
        tag = (group << 16) | elem
        if until_item_end and tag == 0xFFFEE00D:
            return pos + 8
        if not until_item_end and tag in _PIXEL_TAGS:
            return pos
        if explicit:
            vr = buf[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                if pos + 12 > n:
                    raise _NeedMore
                length = _U32.unpack_from(buf, pos + 8)[0]
                head = 12
            elif vr.isalpha() and vr.isupper():
                length = _U16.unpack_from(buf, pos + 6)[0]
                head = 8
            else:
                raise _Unusual
        else:
            length = _U32.unpack_from(buf, pos + 4)[0]
            head = 8
        pos += head
        if length == _UNDEF:  # an explicit UN of undefined length nests implicit-VR data
            pos = _skip_undefined(buf, pos, explicit and not (explicit and vr == b"UN"))
            continue
        if out is not None and wanted is not None and tag in wanted:
            if pos + length > n:
                raise _NeedMore
            out[tag] = buf[pos : pos + length]
        pos += length


def _parse(buf: bytes, wanted: frozenset[int], size: int) -> FastHeader:
    if len(buf) < 132:
        raise _NeedMore if size > len(buf) else _Unusual
    if buf[128:132] != b"DICM":
        raise _Unusual
    pos = 132
    meta: dict[int, bytes] = {}
    # file meta group: explicit VR little endian, group 0x0002
    while True:
        if pos + 8 > len(buf):
            raise _NeedMore
        group = _U16.unpack_from(buf, pos)[0]
        if group != 0x0002:
            break
        pos = _walk_one(buf, pos, meta)
    ts = meta.get(0x00020010, b"").decode("ascii", "replace").strip("\x00 ")
    if ts in _BIG_OR_DEFLATE:
        raise _Unusual
    explicit = ts != _IMPLICIT_LE
    values: dict[int, bytes] = {}
    pos = _walk(buf, pos, explicit, wanted, values)
    pixel_tag, offset, length = None, pos, 0
    if pos + 8 <= len(buf):
        group, elem = _TAG.unpack_from(buf, pos)
        pixel_tag = (group << 16) | elem
        if explicit:
            if pos + 12 > len(buf):
                raise _NeedMore
            length, offset = _U32.unpack_from(buf, pos + 8)[0], pos + 12
        else:
            length, offset = _U32.unpack_from(buf, pos + 4)[0], pos + 8
    elif pos < size:
        raise _NeedMore
    return FastHeader(values, ts or _EXPLICIT_LE, not explicit, size, pixel_tag, offset, length)


def _walk_one(buf: bytes, pos: int, out: dict[int, bytes]) -> int:
    group, elem = _TAG.unpack_from(buf, pos)
    vr = buf[pos + 4 : pos + 6]
    if vr in _LONG_VRS:
        if pos + 12 > len(buf):
            raise _NeedMore
        length, head = _U32.unpack_from(buf, pos + 8)[0], 12
    else:
        length, head = _U16.unpack_from(buf, pos + 6)[0], 8
    if length == _UNDEF:
        raise _Unusual
    if pos + head + length > len(buf):
        raise _NeedMore
    out[(group << 16) | elem] = buf[pos + head : pos + head + length]
    return pos + head + length


def parse_fast(f: BinaryIO, wanted: frozenset[int], first_chunk: int = 8192) -> FastHeader | None:
    """Parse the header of an open file; None when pydicom should do it (not an error by itself)."""
    size = os.fstat(f.fileno()).st_size
    chunk = first_chunk
    while True:
        f.seek(0)
        buf = f.read(min(chunk, size))
        try:
            return _parse(buf, wanted, size)
        except _NeedMore:
            if len(buf) >= size or chunk >= 1 << 24:
                return None
            chunk *= 8
        except (_Unusual, struct.error):
            return None
