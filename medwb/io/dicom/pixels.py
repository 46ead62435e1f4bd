"""Read DICOM files into raw frames plus the per-frame facts a Volume needs (position, rescale).

read_files() reads headers with pydicom and uncompressed pixels straight into one preallocated numpy
buffer (no per-file pixel objects); compressed pixels go through pydicom's decoders (pylibjpeg,
pyjpegls). Multi-frame files (Enhanced CT/MR with functional groups, or legacy multi-frame) yield one
record per frame. Building the grid is medwb.io.dicom.series's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from medwb.io.dicom.checks import (
    expected_pixel_bytes,
    photometric_problem,
    pixel_data_problem,
    rescale_problem,
)
from medwb.io.dicom.errors import DicomReadError, UnsupportedTransferSyntaxError
from medwb.io.dicom.fast import parse_fast
from medwb.io.dicom.frames import frame_geometry
from medwb.io.dicom.header import (
    Header,
    check_decodable,
    object_kind,
    raw_value,
    read_header,
    stored_dtype,
)

__all__ = ["FileRecord", "read_files"]

_PLUGINS = {"1.2.840.10008.1.2.5": "pylibjpeg"}  # RLE: pylibjpeg-rle is much faster than pydicom's


@dataclass
class FileRecord:
    """What one file contributes: its header facts and the location of its frame(s)."""

    path: Path
    kind: str
    series_uid: str = ""
    ds: Dataset | None = None
    rows: int = 0
    cols: int = 0
    n_frames: int = 1
    ipp: np.ndarray | None = None  # (n_frames, 3), NaN where absent
    iop: np.ndarray | None = None  # (n_frames, 6), NaN where absent
    pixel_spacing: np.ndarray | None = None  # (n_frames, 2), NaN where absent
    slope: np.ndarray | None = None  # (n_frames,)
    intercept: np.ndarray | None = None
    pixels: np.ndarray | None = None  # (n_frames, rows, cols) when not in the shared buffer
    buffer_index: int = -1  # row of the shared buffer holding this single frame, -1 when not there
    instance_number: int = 0
    transfer_syntax: str = ""
    notes: list[str] = field(default_factory=list)


def _decode(h: Header, f: Any) -> np.ndarray:
    """All frames of a file as (frames, rows, cols) stored values, through pydicom's decoders."""
    from pydicom.pixels import get_decoder

    ts = UID(h.transfer_syntax or "1.2.840.10008.1.2.1")
    check_decodable(ts, h.path)
    ds = h.ds
    if h.pixel_tag != 0x7FE00010:
        raise DicomReadError(f"{h.path}: float pixel data is not supported for stacking yet.")
    if h.pixel_bytes is not None:
        value = h.pixel_bytes
    else:
        f.seek(h.pixel_offset)
        value = f.read() if h.pixel_length == 0xFFFFFFFF else f.read(h.pixel_length)
    if h.pixel_length == 0xFFFFFFFF and value[-8:] == b"\xfe\xff\xdd\xe0\x00\x00\x00\x00":
        value = value[:-8]
    if isinstance(ds, dict):  # raw header from the fast walker: describe the pixels explicitly
        le = h.little_endian
        rows, cols = _int(raw_value(ds, 0x00280010, le), 0), _int(raw_value(ds, 0x00280011, le), 0)
        bits = _int(raw_value(ds, 0x00280100, le), 16)
        opts = {
            "rows": rows, "columns": cols, "samples_per_pixel": 1, "bits_allocated": bits,
            "bits_stored": _int(raw_value(ds, 0x00280101, le), bits),
            "pixel_representation": _int(raw_value(ds, 0x00280103, le), 0),
            "photometric_interpretation": str(raw_value(ds, 0x00280004) or "MONOCHROME2"),
            "number_of_frames": _int(raw_value(ds, 0x00280008), 1),
        }  # fmt: skip
        try:
            arr, _ = get_decoder(ts).as_array(value, decoding_plugin=_PLUGINS.get(ts, ""), as_rgb=False, **opts)
        except Exception as exc:
            raise DicomReadError(
                f"{h.path}: cannot decode its pixel data ({ts.name}): {type(exc).__name__}: {exc}.\n"
                "Fix: the file is probably truncated or damaged; re-export it or drop it."
            ) from exc
        return arr.reshape(-1, rows, cols)
    ds.PixelData = value
    ds["PixelData"].VR = "OB" if ts.is_compressed else ("OW" if int(ds.get("BitsAllocated", 16)) > 8 else "OB")
    try:
        arr, _ = get_decoder(ts).as_array(ds, decoding_plugin=_PLUGINS.get(ts, ""), as_rgb=False)
    except Exception as exc:
        raise DicomReadError(
            f"{h.path}: cannot decode its pixel data ({ts.name}): {type(exc).__name__}: {exc}.\n"
            "Fix: the file is probably truncated or damaged; re-export it or drop it."
        ) from exc
    finally:
        del ds.PixelData
    return arr.reshape(-1, int(ds.Rows), int(ds.Columns))


def _int(value: Any, default: int) -> int:
    try:
        return int(float(value)) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


# Tags the hot path needs from each file (raw bytes through medwb.io.dicom.fast).
_LOAD_TAGS = frozenset({
    0x00080016, 0x0020000E, 0x00200013, 0x00280002, 0x00280004, 0x00280008, 0x00280010, 0x00280011,
    0x00280100, 0x00280101, 0x00280103, 0x00200032, 0x00200037, 0x00280030, 0x00281052, 0x00281053,
})  # fmt: skip


@lru_cache(maxsize=64)
def _is_plain(syntax: str) -> bool:
    """Not compressed: pixel bytes are read as they lie in the file (deflated files: as inflated in memory).

    Raises UnsupportedTransferSyntaxError when ``syntax`` is no transfer syntax at all.
    """
    uid = UID(syntax)
    if not uid.is_transfer_syntax:
        raise UnsupportedTransferSyntaxError(
            f"unknown transfer syntax {syntax!r} (not a DICOM transfer syntax); no decoder can read its pixels."
        )
    return not uid.is_compressed


def _swap_pairs(raw: bytes) -> bytes:
    """8-bit pixels written as OW in big endian lie byte-swapped in 16-bit words: put them back."""
    padded = raw + b"\0" * (len(raw) % 2)
    return np.frombuffer(padded, ">u2").astype("<u2").tobytes()[: len(raw)]


def _header(path: Path, f: Any) -> Header:
    """The fast walker for plain uncompressed single-frame files, pydicom for everything else."""
    fh = parse_fast(f, _LOAD_TAGS)
    if (
        fh is not None
        and fh.pixel_tag == 0x7FE00010
        and _int(raw_value(fh.values, 0x00280008), 1) == 1
    ):
        f.seek(fh.pixel_offset)
        return Header(path, fh.values, fh.file_size, fh.pixel_tag, fh.pixel_offset, fh.pixel_length,
                      fh.implicit_vr, True, fh.transfer_syntax)  # fmt: skip
    f.seek(0)
    return read_header(path, f)


def _read_one(path: Path, index: int, buffer: np.ndarray | None) -> FileRecord:
    with open(path, "rb") as f:
        h = _header(path, f)
        ds, le = h.ds, h.little_endian
        sop = str(raw_value(ds, 0x00080016) or "")
        series_uid = str(raw_value(ds, 0x0020000E) or "")
        rec = FileRecord(path, object_kind(sop, h.pixel_tag is not None), series_uid)
        rec.ds = ds
        rec.transfer_syntax = h.transfer_syntax
        rec.instance_number = _int(raw_value(ds, 0x00200013), 0)
        if rec.kind != "image":
            return rec
        try:
            plain = _is_plain(h.transfer_syntax or "1.2.840.10008.1.2.1")
        except UnsupportedTransferSyntaxError as exc:
            raise UnsupportedTransferSyntaxError(
                f"{path}: {exc}\nFix: correct TransferSyntaxUID in its file meta (it is usually 1.2.840.10008.1.2.1, "
                "Explicit VR Little Endian), or leave the file out."
            ) from None
        if _int(raw_value(ds, 0x00280002, le), 1) != 1:
            raise DicomReadError(
                f"{path}: colour image (SamplesPerPixel {raw_value(ds, 0x00280002, le)}, "
                f"{raw_value(ds, 0x00280004)}); medwb stacks greyscale images only.\n"
                "Fix: convert it to greyscale first, or leave it out of the series."
            )
        rec.rows, rec.cols = _int(raw_value(ds, 0x00280010, le), 0), _int(raw_value(ds, 0x00280011, le), 0)
        rec.n_frames = _int(raw_value(ds, 0x00280008), 1)
        if rec.rows == 0 or rec.cols == 0:
            raise DicomReadError(f"{path}: Rows/Columns missing or 0.\nFix: the file is damaged; drop it.")
        _refuse(path, photometric_problem(raw_value(ds, 0x00280004)))
        rec.ipp, rec.iop, rec.pixel_spacing, rec.slope, rec.intercept = frame_geometry(ds, rec.n_frames)
        if rec.n_frames == 1:  # raw values, so that the report quotes what the file says
            _refuse(path, rescale_problem(raw_value(ds, 0x00281053), raw_value(ds, 0x00281052)))
        elif not (np.isfinite(rec.slope).all() and (rec.slope != 0).all() and np.isfinite(rec.intercept).all()):
            k = int(np.flatnonzero(~np.isfinite(rec.slope) | (rec.slope == 0) | ~np.isfinite(rec.intercept))[0])
            _refuse(path, f"RescaleSlope / RescaleIntercept of frame {k + 1} is not a usable number "
                          f"({rec.slope[k]!r}, {rec.intercept[k]!r}). Fix: correct it in the file, or leave it out.")
        dtype = stored_dtype(ds, h.little_endian)
        if h.pixel_tag == 0x7FE00010 and (plain or h.pixel_length == 0xFFFFFFFF):
            bits = _int(raw_value(ds, 0x00280100, le), 16)
            need = expected_pixel_bytes(rec.rows, rec.cols, rec.n_frames, 1, bits) if plain else 0
            _refuse(path, pixel_data_problem(h, need, f))
        swapped = dtype.itemsize == 1 and not h.little_endian and h.pixel_vr == "OW"
        fast = (
            h.pixel_tag == 0x7FE00010
            and plain
            and h.pixel_bytes is None
            and not swapped
            and rec.n_frames == 1
            and buffer is not None
            and buffer.shape[1:] == (rec.rows, rec.cols)
        )
        if fast and buffer is not None and dtype.itemsize == buffer.itemsize and dtype.kind == buffer.dtype.kind:
            target = buffer[index]
            f.seek(h.pixel_offset)
            got = f.readinto(target.view(np.uint8).reshape(-1))
            if got != target.nbytes:
                raise DicomReadError(
                    f"{path} is truncated: {target.nbytes} bytes of pixel data expected, {got} present.\n"
                    "Fix: re-export or re-transfer the file, or drop it "
                    "(scan(folder).problems lists every unusable file)."
                )
            if not h.little_endian:
                target.byteswap(inplace=True)
            rec.buffer_index = index
        elif h.pixel_tag == 0x7FE00010 and plain:
            nbytes = rec.n_frames * rec.rows * rec.cols * dtype.itemsize
            if h.pixel_bytes is not None:
                raw = h.pixel_bytes[:nbytes]
            else:
                f.seek(h.pixel_offset)
                raw = f.read(nbytes + (nbytes % 2 if swapped else 0))
                raw = _swap_pairs(raw)[:nbytes] if swapped else raw
            if len(raw) != nbytes:
                raise DicomReadError(
                    f"{path} is truncated: {nbytes} bytes of pixel data expected, {len(raw)} present.\n"
                    "Fix: re-export or re-transfer the file, or drop it."
                )
            rec.pixels = np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))
            rec.pixels = rec.pixels.reshape(rec.n_frames, rec.rows, rec.cols)
        else:
            rec.pixels = _decode(h, f)
        if rec.pixels is not None:
            if (
                rec.n_frames == 1
                and buffer is not None
                and buffer.shape[1:] == rec.pixels.shape[1:]
                and np.can_cast(rec.pixels.dtype, buffer.dtype, "safe")
            ):
                buffer[index] = rec.pixels[0]  # one volume buffer: no concatenation later
                rec.pixels, rec.buffer_index = None, index
        bits_stored = _int(raw_value(ds, 0x00280101, le), dtype.itemsize * 8)
        if dtype.kind == "i" and bits_stored < dtype.itemsize * 8:
            shift = dtype.itemsize * 8 - bits_stored  # sign-extend e.g. 12-bit signed values
            arr = buffer[index : index + 1] if rec.buffer_index >= 0 and buffer is not None else rec.pixels
            np.right_shift(np.left_shift(arr, shift, out=arr), shift, out=arr)
        return rec


def _refuse(path: Path, problem: str | None) -> None:
    """Raise the checks' verdict on one file as a DicomReadError (skipped, with a warning, in folders)."""
    if problem:
        reason, _, fix = problem.partition(" Fix: ")
        raise DicomReadError(f"{path}: {reason}" + (f"\nFix: {fix}" if fix else ""))


def read_files(
    files: Sequence[Path], *, progress: bool = False, strict: bool = True
) -> tuple[list[FileRecord], np.ndarray | None, list[tuple[Path, str]]]:
    """Read ``files``; single-frame uncompressed pixels land in one (n, rows, cols) buffer.

    Returns (records, buffer, skipped): records in input order (non-image objects have kind != "image"
    and no pixels); ``buffer[rec.buffer_index]`` holds a record's frame when buffer_index >= 0; skipped lists
    (path, reason) of unreadable files when ``strict`` is False (otherwise the first one raises).
    """
    files = [Path(p) for p in files]
    if not files:
        return [], None, []
    skipped: list[tuple[Path, str]] = []
    buffer: np.ndarray | None = None
    for probe in files[:8]:  # the first readable single-frame image sets the buffer's shape
        try:
            with open(probe, "rb") as f:
                h = _header(probe, f)
        except (DicomReadError, OSError):
            continue
        ds = h.ds
        kind = object_kind(str(raw_value(ds, 0x00080016) or ""), h.pixel_tag is not None)
        if kind == "image" and _int(raw_value(ds, 0x00280008), 1) == 1 and raw_value(ds, 0x00280010, h.little_endian):
            try:
                dt = stored_dtype(ds, True).newbyteorder("=")
            except DicomReadError:
                continue
            rows, cols = _int(raw_value(ds, 0x00280010, h.little_endian), 0), _int(raw_value(ds, 0x00280011, h.little_endian), 0)
            buffer = np.empty((len(files), rows, cols), dt)
            break
    records: list[FileRecord | None] = [None] * len(files)

    def work(i: int) -> None:
        try:
            records[i] = _read_one(files[i], i, buffer)
        except DicomReadError as exc:
            if strict:
                raise
            skipped.append((files[i], str(exc).split("\n")[0]))

    todo = range(len(files))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="reading DICOM", unit="file")
    # One thread: parsing holds the GIL, and threads measured slower (bench/bench_dicom.py).
    for i in todo:
        work(i)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return [r for r in records if r is not None], buffer, skipped
