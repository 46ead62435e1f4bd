"""What makes an image file unusable, checked the same way by scan() (a problems row) and load (an error).

Each check returns None when all is well, or one line that names the bad value and the fix, so that
scan().problems and the DicomReadError that load_series() raises (or the warning when it skips a file of a
folder) say the same thing. Header values come in raw (strings as written), never pre-converted: a
RescaleSlope of 'abc' must be reported, not silently read as 1.
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any, BinaryIO

from medwb.io.dicom.header import Header

__all__ = ["rescale_problem", "photometric_problem", "pixel_data_problem", "expected_pixel_bytes"]

_ITEM, _SEQ_END = 0xFFFEE000, 0xFFFEE0DD


def _bad_number(key: str, value: Any, *, zero_ok: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return (f"{key} {text[:40]!r} is not a number, so stored values cannot be converted. "
                f"Fix: correct {key} in the file (e.g. with pydicom), or leave the file out.")
    if not math.isfinite(number):
        return (f"{key} is {text[:40]!r}, not a finite number: every converted value would be NaN. "
                f"Fix: correct {key} in the file, or leave the file out.")
    if number == 0 and not zero_ok:
        return (f"{key} is 0: every pixel would map to the intercept. "
                f"Fix: correct {key} in the file, or leave the file out.")
    return None


def rescale_problem(slope: Any, intercept: Any) -> str | None:
    """A bad RescaleSlope / RescaleIntercept (non-numeric, NaN, infinite; a slope of 0), or None.

    Example:
        >>> rescale_problem("1", "-1024") is None, rescale_problem("abc", "0").split(" is ")[0]
        (True, "RescaleSlope 'abc'")
    """
    return _bad_number("RescaleSlope", slope, zero_ok=False) or _bad_number("RescaleIntercept", intercept,
                                                                           zero_ok=True)


def photometric_problem(photometric: Any) -> str | None:
    """Palette-colour images hold indices into a colour table, not intensities: say so, or None.

    Example:
        >>> photometric_problem("MONOCHROME2") is None, photometric_problem("PALETTE COLOR")[:22]
        (True, 'palette-colour image (')
    """
    if str(photometric or "").strip().upper() != "PALETTE COLOR":
        return None
    return ("palette-colour image (PhotometricInterpretation PALETTE COLOR): its pixel values are indices "
            "into a colour table, not intensities, and medwb stacks greyscale images only. Fix: convert it "
            "to greyscale (pydicom.pixels.apply_color_lut gives RGB; reduce that to one channel), or leave "
            "it out of the series.")


def expected_pixel_bytes(rows: int, cols: int, frames: int, samples: int, bits: int) -> int:
    """Bytes of uncompressed pixel data that Rows x Columns x frames x samples x BitsAllocated need."""
    return (rows * cols * frames * samples * bits + 7) // 8


def _encapsulated_problem(f: BinaryIO, offset: int, size: int) -> str | None:
    """Walk the items of encapsulated pixel data: each must end inside the file, then a delimiter."""
    pos, n = offset, 0
    while True:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return (f"truncated: compressed pixel data stops after {n} fragment(s) without its sequence "
                    "delimiter (the file was cut short). Fix: re-export or re-transfer it, or leave it out.")
        tag = struct.unpack("<HH", head[:4])
        length = struct.unpack("<I", head[4:])[0]
        tag_int = (tag[0] << 16) | tag[1]
        if tag_int == _SEQ_END:
            return None
        if tag_int != _ITEM:
            return (f"damaged compressed pixel data: expected a fragment item at byte {pos}, found tag "
                    f"({tag[0]:04X},{tag[1]:04X}). Fix: re-export the file, or leave it out.")
        if pos + 8 + length > size:
            return (f"truncated: compressed fragment {n + 1} needs {length} bytes, only {size - pos - 8} "
                    "present. Fix: re-export or re-transfer the file, or leave it out.")
        pos += 8 + length
        n += 1


def pixel_data_problem(h: Header, expected: int, f: BinaryIO | None = None) -> str | None:
    """Pixel data shorter than the image needs, or cut off by the end of the file; None when whole.

    ``expected`` is expected_pixel_bytes(...) for uncompressed data (ignored for encapsulated data, whose
    fragments are walked instead, through ``f`` or by opening ``h.path``).
    """
    if h.pixel_tag is None:
        return None
    if h.pixel_bytes is not None:  # inflated in memory (deflate): the length is all there is to check
        have = len(h.pixel_bytes)
        return None if have >= expected else (
            f"pixel data holds {have} bytes, {expected} needed for its Rows x Columns x frames. "
            "Fix: the file is damaged; re-export it or leave it out.")
    if h.pixel_length == 0xFFFFFFFF:
        if f is not None:
            return _encapsulated_problem(f, h.pixel_offset, h.file_size)
        with open(h.path, "rb") as own:
            return _encapsulated_problem(own, h.pixel_offset, os.fstat(own.fileno()).st_size)
    if h.pixel_offset + h.pixel_length > h.file_size:
        return (f"truncated: pixel data needs {h.pixel_length} bytes, only {h.file_size - h.pixel_offset} "
                "present (the file was cut short). Fix: re-export or re-transfer it, or leave it out.")
    if expected and h.pixel_length < expected:
        return (f"pixel data element holds {h.pixel_length} bytes, {expected} needed for its Rows x Columns "
                "x frames x BitsAllocated. Fix: the file is damaged; re-export it or leave it out.")
    return None
