"""Byte-level encoding for medwb.export.series: DS strings, file meta, pixel data, and the template
that serialises a series' constant elements once so each slice costs five encoded elements.

The output is byte-identical to pydicom's own Dataset.save_as (tests/export/test_series.py checks it);
this module only makes it about ten times faster for series of thousands of files.
"""

from __future__ import annotations

import struct

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ImplicitVRLittleEndian, JPEG2000Lossless

__all__ = ["ds_string", "file_meta", "encode_pixels", "SeriesTemplate"]


def ds_string(value: float) -> str:
    """A DS string (at most 16 characters) with as many significant digits as fit, up to 12."""
    value = float(value)
    for digits in range(12, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return "0" if text in ("-0", "0") else text
    raise ValueError(f"{value} cannot be written as a DICOM DS")


def file_meta(sop_class: UID, ts: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = sop_class
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "MEDWB_0_1"
    return meta


def encode_pixels(frames: np.ndarray, ts: UID, ds: Dataset) -> bytes:
    """Pixel Data bytes: raw little-endian, or encapsulated compressed frames."""
    if not ts.is_compressed:
        return np.ascontiguousarray(frames).astype(frames.dtype.newbyteorder("<"), copy=False).tobytes()
    from pydicom.pixels import get_encoder

    enc = get_encoder(ts)
    if ts == JPEG2000Lossless and min(ds.Rows, ds.Columns) < 32:
        raise ValueError(
            f"JPEG 2000 (openjpeg, 6 wavelet levels) needs images of at least 32x32, got "
            f"{ds.Rows}x{ds.Columns}.\nFix: use transfer_syntax=\"rle\" or \"jpeg-ls\" for tiny images."
        )
    opts = {
        "rows": ds.Rows,
        "columns": ds.Columns,
        "samples_per_pixel": 1,
        "bits_allocated": 16,
        "bits_stored": 16,
        "pixel_representation": ds.PixelRepresentation,
        "photometric_interpretation": "MONOCHROME2",
        "number_of_frames": 1,
    }
    return encapsulate([enc.encode(np.ascontiguousarray(f), validate=False, **opts) for f in frames])


# Elements that change from slice to slice; everything else is serialised once per series.
_VARYING = {0x00080018: "UI", 0x00200013: "IS", 0x00200032: "DS", 0x00201041: "DS", 0x7FE00010: "OW"}


class SeriesTemplate:
    """A series' constant elements encoded once by pydicom; per slice only five are encoded."""

    def __init__(self, ds: Dataset, ts: UID) -> None:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_dataset

        self.implicit = ts == ImplicitVRLittleEndian
        self.compressed = ts.is_compressed
        self.ts, self.sop_class = str(ts), str(ds.SOPClassUID)
        self.impl_uid, self.impl_name = str(PYDICOM_IMPLEMENTATION_UID), "MEDWB_0_1"
        tags = sorted(_VARYING)
        segments: list[Dataset] = [Dataset() for _ in range(len(tags) + 1)]
        for elem in ds:
            if int(elem.tag) in _VARYING:
                continue
            segments[sum(int(elem.tag) > t for t in tags)].add(elem)
        self.segments = []
        for seg in segments:
            fp = DicomBytesIO()
            fp.is_little_endian, fp.is_implicit_VR = True, self.implicit
            write_dataset(fp, seg, parent_encoding=ds.get("SpecificCharacterSet", "ISO_IR 100"))
            self.segments.append(fp.getvalue())

    @staticmethod
    def _pad(value: bytes, vr: str) -> bytes:
        return value + (b"\x00" if vr in ("UI", "OB") else b" ") if len(value) % 2 else value

    def _element(self, tag: int, vr: str, value: bytes, undefined: bool = False) -> bytes:
        head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
        length = 0xFFFFFFFF if undefined else len(value)
        if self.implicit:
            return head + struct.pack("<I", length) + value
        if vr in ("OB", "OW", "UN", "SQ", "UT"):
            return head + vr.encode() + b"\x00\x00" + struct.pack("<I", length) + value
        return head + vr.encode() + struct.pack("<H", length) + value

    def _meta(self, sop_uid: str) -> bytes:
        body = b"".join([
            b"\x02\x00\x01\x00OB\x00\x00" + struct.pack("<I", 2) + b"\x00\x01",
            self._meta_ui(0x0002, self.sop_class), self._meta_ui(0x0003, sop_uid),
            self._meta_ui(0x0010, self.ts), self._meta_ui(0x0012, self.impl_uid),
            b"\x02\x00\x13\x00SH" + struct.pack("<H", len(self._pad(self.impl_name.encode(), "SH")))
            + self._pad(self.impl_name.encode(), "SH"),
        ])  # fmt: skip
        group_length = b"\x02\x00\x00\x00UL" + struct.pack("<HI", 4, len(body))
        return b"\x00" * 128 + b"DICM" + group_length + body

    def _meta_ui(self, elem: int, uid: str) -> bytes:
        value = self._pad(uid.encode("ascii"), "UI")
        return struct.pack("<HH", 0x0002, elem) + b"UI" + struct.pack("<H", len(value)) + value

    def render(self, sop_uid: str, number: int, position: str, location: str, pixels: bytes) -> bytes:
        s = self.segments
        if self.compressed:
            pixel_elem = self._element(0x7FE00010, "OB", pixels, undefined=True) + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
        else:
            pixel_elem = self._element(0x7FE00010, "OW", self._pad(pixels, "OB"))
        return b"".join([
            self._meta(sop_uid), s[0],
            self._element(0x00080018, "UI", self._pad(sop_uid.encode("ascii"), "UI")), s[1],
            self._element(0x00200013, "IS", self._pad(str(number).encode(), "IS")), s[2],
            self._element(0x00200032, "DS", self._pad(position.encode(), "DS")), s[3],
            self._element(0x00201041, "DS", self._pad(location.encode(), "DS")), s[4],
            pixel_elem, s[5],
        ])  # fmt: skip
