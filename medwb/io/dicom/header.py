"""Low-level DICOM header reading shared by scan() and load_series().

read_header() parses one file's header with pydicom (stopping before the pixels) and reports where the
pixel data starts, so callers can read uncompressed pixels straight into a numpy buffer. object_kind()
names what an object is ("image", "SR", "SEG", ...). Nothing here builds Volumes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from medwb.io.dicom.errors import DicomReadError, UnsupportedTransferSyntaxError

__all__ = [
    "Header",
    "read_header",
    "object_kind",
    "stored_dtype",
    "check_decodable",
    "raw_value",
    "raw_floats",
    "NON_IMAGE_KINDS",
]

# SOP Class UID prefixes of objects that are not images to be stacked into a Volume.
_KIND_PREFIXES: list[tuple[str, str]] = [
    ("1.2.840.10008.5.1.4.1.1.88.59", "KO"),
    ("1.2.840.10008.5.1.4.1.1.88.", "SR"),
    ("1.2.840.10008.5.1.4.1.1.66.4", "SEG"),
    ("1.2.840.10008.5.1.4.1.1.66.1", "REG"),
    ("1.2.840.10008.5.1.4.1.1.66.3", "REG"),
    ("1.2.840.10008.5.1.4.1.1.66", "RAW"),
    ("1.2.840.10008.5.1.4.1.1.30", "PMAP"),
    ("1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT"),
    ("1.2.840.10008.5.1.4.1.1.481.2", "RTDOSE"),
    ("1.2.840.10008.5.1.4.1.1.481.", "RT"),
    ("1.2.840.10008.5.1.4.1.1.11.", "PR"),
    ("1.2.840.10008.5.1.4.1.1.104.", "DOC"),
    ("1.2.840.10008.5.1.4.1.1.9.", "WAVEFORM"),
    ("1.2.840.10008.1.3.10", "DICOMDIR"),
]
#: kinds that scan() indexes but load_series() never stacks as an image.
NON_IMAGE_KINDS = frozenset(k for _, k in _KIND_PREFIXES) | {"other"}

_PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
_UNDEFINED = 0xFFFFFFFF
_DEFLATED = "1.2.840.10008.1.2.1.99"


def object_kind(sop_class: str, has_pixels: bool) -> str:
    """"image" for pixel-bearing image objects; "SR", "SEG", "RTSTRUCT", "PR", "KO", ... otherwise.

    Example:
        >>> object_kind("1.2.840.10008.5.1.4.1.1.88.22", False), object_kind("1.2.840.10008.5.1.4.1.1.2", True)
        ('SR', 'image')
    """
    for prefix, kind in _KIND_PREFIXES:
        if sop_class.startswith(prefix):
            return kind
    return "image" if has_pixels else "other"


@dataclass
class Header:
    """One file's header plus where its pixel data lies in the file."""

    path: Path
    ds: Dataset | dict[int, bytes]
    file_size: int
    pixel_tag: int | None  # 0x7FE00010 etc, None when the file has no pixel data
    pixel_offset: int  # byte offset of the pixel value (after the element header)
    pixel_length: int  # value length; 0xFFFFFFFF for encapsulated (compressed) data
    implicit_vr: bool
    little_endian: bool
    syntax: str | None = None  # set when ``ds`` is a dict of raw values (medwb.io.dicom.fast)
    pixel_vr: str = ""  # VR of the pixel element as written (explicit VR files); "" when unknown
    pixel_bytes: bytes | None = None  # the pixel value itself when it is not in the file as is (deflate)

    @property
    def transfer_syntax(self) -> str:
        if self.syntax is not None:
            return self.syntax
        return str(self.ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(self.ds, "file_meta") else ""

    @property
    def truncated(self) -> bool:
        return (
            self.pixel_tag is not None
            and self.pixel_bytes is None
            and self.pixel_length != _UNDEFINED
            and self.pixel_offset + self.pixel_length > self.file_size
        )


def _looks_like_raw_dicom(fp: BinaryIO) -> bool:
    """A preamble-less file that starts with a group 0x0002 or 0x0008 element (old style)."""
    fp.seek(0)
    head = fp.read(8)
    fp.seek(0)
    return len(head) == 8 and struct.unpack("<H", head[:2])[0] in (0x0002, 0x0008)


def read_header(path: str | Path, fp: BinaryIO | None = None, specific_tags: list | None = None) -> Header:
    """Parse the header of ``path`` (up to the pixel data) and locate the pixel data.

    Leaves ``fp`` (when given, an open binary file) positioned at the pixel value.

    Raises:
        DicomReadError: not a DICOM file, or a header that cannot be parsed.
    """
    path = Path(path)
    own = fp is None
    f = open(path, "rb") if own else fp  # noqa: SIM115 - closed below when we opened it
    try:
        size = os.fstat(f.fileno()).st_size
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=specific_tags)
        except InvalidDicomError as exc:
            if not _looks_like_raw_dicom(f):
                raise DicomReadError(
                    f"{path} is not a DICOM file (no 'DICM' marker after the 128-byte preamble).\n"
                    "Fix: remove it from the folder, or pass only the DICOM files."
                ) from exc
            ds = pydicom.dcmread(f, stop_before_pixels=True, force=True, specific_tags=specific_tags)
        except Exception as exc:  # pydicom raises many types on corrupt headers
            raise DicomReadError(
                f"{path}: cannot parse the DICOM header ({type(exc).__name__}: {exc}).\n"
                "Fix: the file is damaged or truncated; re-export it or drop it."
            ) from exc
        if str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")) == _DEFLATED:
            return _deflated_header(path, f, size, specific_tags)
        implicit, little = ds.original_encoding
        implicit = bool(implicit) if implicit is not None else False
        little = bool(little) if little is not None else True
        pos = f.tell()
        head = f.read(12)
        tag = pixel_tag = None
        offset, length = pos, 0
        if len(head) >= 8:
            endian = "<" if little else ">"
            group, elem = struct.unpack(endian + "HH", head[:4])
            tag = (group << 16) | elem
            if tag in _PIXEL_TAGS:
                pixel_tag = tag
                vr = ""
                if implicit:
                    (length,) = struct.unpack(endian + "I", head[4:8])
                    offset = pos + 8
                else:
                    if len(head) < 12:
                        raise DicomReadError(
                            f"{path} is truncated inside the pixel data element header.\n"
                            "Fix: re-export or re-transfer the file, or drop it."
                        )
                    vr = head[4:6].decode("latin-1")
                    (length,) = struct.unpack(endian + "I", head[8:12])
                    offset = pos + 12
                f.seek(offset)
                return Header(path, ds, size, pixel_tag, offset, length, implicit, little, pixel_vr=vr)
        return Header(path, ds, size, pixel_tag, offset, length, implicit, little)
    finally:
        if own:
            f.close()


def _deflated_header(path: Path, f: BinaryIO, size: int, specific_tags: list | None) -> Header:
    """Deflated Explicit VR Little Endian: the dataset (pixels included) is only readable inflated."""
    f.seek(0)
    try:
        tags = None if specific_tags is None else [*specific_tags, *_PIXEL_TAGS]
        ds = pydicom.dcmread(f, force=True, specific_tags=tags)
    except Exception as exc:  # zlib and pydicom raise many types on a damaged stream
        raise DicomReadError(
            f"{path}: cannot inflate its deflated dataset ({type(exc).__name__}: {exc}).\n"
            "Fix: the file is damaged or truncated; re-export it or drop it."
        ) from exc
    for tag in _PIXEL_TAGS:
        if tag in ds:
            elem = ds[tag]
            value = bytes(elem.value or b"")
            vr = str(elem.VR)
            del ds[tag]
            return Header(path, ds, size, tag, 0, len(value), False, True, pixel_vr=vr, pixel_bytes=value)
    return Header(path, ds, size, None, 0, 0, False, True)


def stored_dtype(ds: Dataset | dict[int, bytes], little_endian: bool = True) -> np.dtype:
    """numpy dtype of the stored (raw) pixel values of a monochrome image."""
    bits = int(raw_value(ds, 0x00280100, little_endian) or 16)
    signed = int(raw_value(ds, 0x00280103, little_endian) or 0) == 1
    if bits not in (8, 16, 32):
        raise DicomReadError(
            f"BitsAllocated {bits} is not supported for stacking (only 8, 16, 32).\n"
            "Fix: convert the file with dcmtk/gdcm (e.g. gdcmconv --raw) first."
        )
    dt = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    return dt.newbyteorder("<" if little_endian else ">")


def check_decodable(transfer_syntax: str, path: Path | str = "") -> None:
    """Raise UnsupportedTransferSyntaxError when no installed plugin decodes this transfer syntax."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(transfer_syntax or "1.2.840.10008.1.2.1")
    if not uid.is_transfer_syntax:
        raise UnsupportedTransferSyntaxError(
            f"{path}: unknown transfer syntax {transfer_syntax!r}; no decoder can read its pixels.\n"
            "Fix: convert it to Explicit VR Little Endian (e.g. dcmtk `dcmconv +te` or `gdcmconv --raw`)."
        )
    if not uid.is_compressed:
        return
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        name = uid.name if uid.is_transfer_syntax else transfer_syntax
        raise UnsupportedTransferSyntaxError(
            f"{path}: pixel data in transfer syntax {name} ({transfer_syntax}) has no installed decoder.\n"
            "Fix: `pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle pyjpegls`, "
            "or convert the file with `gdcmconv --raw`."
        )


_US_TAGS = {0x00280002, 0x00280010, 0x00280011, 0x00280100, 0x00280101, 0x00280103}


def raw_value(ds: Dataset | dict[int, bytes], tag: int, little_endian: bool = True) -> Any:
    """A top-level value without pydicom's conversion machinery (fast path for hot loops).

    Strings (UI, DS, IS, CS, LO) come back as ``str`` (multi-values joined by backslash), US as ``int``;
    ``None`` when absent or empty. Falls back to pydicom for already-converted elements.
    """
    if isinstance(ds, dict):  # raw values from medwb.io.dicom.fast
        value = ds.get(tag)
    else:
        try:
            elem = ds.get_item(tag)
        except KeyError:
            return None
        if elem is None:
            return None
        value = elem.value
    if value is None:
        return None
    if isinstance(value, bytes):
        if tag in _US_TAGS:
            return struct.unpack(("<" if little_endian else ">") + "H", value[:2])[0] if len(value) >= 2 else None
        text = value.decode("latin-1").strip(" \x00")
        return text or None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return value


def raw_floats(ds: Dataset | dict[int, bytes], tag: int, n: int) -> np.ndarray | None:
    """A multi-valued DS (e.g. ImagePositionPatient) as n floats, or None when absent / malformed."""
    v = raw_value(ds, tag)
    if v is None:
        return None
    try:
        out = np.array([float(x) for x in str(v).split("\\")], dtype=np.float64)
    except ValueError:
        return None
    return out if out.size == n else None
