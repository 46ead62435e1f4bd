"""Makers of crafted DICOM files, written with pydicom alone (independent of medwb's writer).

Every maker takes a path (or folder) and returns what it wrote. Pixel values are known to the caller
(``ramp``) so that a test can tell a byte swap, a transposition or a rescale from the truth.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

STUDY = "1.2.826.0.1.3680043.8.498.1"
FRAME = "1.2.826.0.1.3680043.8.498.2"


def ramp(rows: int = 6, cols: int = 5, k: int = 0, dtype: str = "int16") -> np.ndarray:
    """Distinct values per pixel (and per slice k): any swap or transposition shows."""
    base = np.arange(rows * cols).reshape(rows, cols) + 7 * k
    return (base % 250 if np.dtype(dtype).itemsize == 1 else base * 3 - 20).astype(dtype)


def ct_dataset(pixels: np.ndarray, *, k: int = 0, series_uid: str = "1.2.826.0.1.3680043.8.498.3",
               ipp: tuple[float, float, float] | None = None,
               iop: tuple[float, ...] = (1, 0, 0, 0, 1, 0), spacing: tuple[float, float] = (0.8, 0.7),
               syntax: str = ExplicitVRLittleEndian) -> Dataset:
    """A CT Image Storage dataset holding ``pixels`` (rows, cols) as slice k of an axial stack."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = syntax
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.PatientName, ds.PatientID = "CRAFTED^CASE", "CRAFT-001"
    ds.PatientBirthDate, ds.PatientSex = "", ""
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName = "20260101", "120000", "", ""
    ds.StudyID = "1"
    ds.Modality = "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY, series_uid, FRAME
    ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
    ds.ImagePositionPatient = list(ipp if ipp is not None else (-10.0, -20.0, 2.5 * k))
    ds.ImageOrientationPatient = list(iop)
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 2.5
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    return ds


def save(ds: Dataset, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ts = ds.file_meta.TransferSyntaxUID
    ds.save_as(path, enforce_file_format=True, little_endian=ts != ExplicitVRBigEndian,
               implicit_vr=False)
    return path


def series(folder: str | os.PathLike, n: int = 4, rows: int = 6, cols: int = 5, **kwargs: object) -> list[Path]:
    """A clean axial CT series of n ramp slices, 2.5 mm apart (files s00.dcm, s01.dcm, ...)."""
    return [save(ct_dataset(ramp(rows, cols, k), k=k, **kwargs), Path(folder) / f"s{k:02d}.dcm")
            for k in range(n)]


def symlink_loop(folder: str | os.PathLike) -> Path:
    """A clean series plus sub/loop -> folder (a directory symlink loop); returns the link."""
    folder = Path(folder)
    series(folder)
    (folder / "sub").mkdir()
    link = folder / "sub" / "loop"
    link.symlink_to(folder, target_is_directory=True)
    return link


def bad_transfer_syntax(path: str | os.PathLike, k: int = 0) -> Path:
    """A slice whose TransferSyntaxUID (1.2.840.99999.1.2.1) is not a transfer syntax."""
    path = save(ct_dataset(ramp(k=k), k=k), path)
    data = path.read_bytes()
    old, new = ExplicitVRLittleEndian.encode() + b"\0", b"1.2.840.99999.1.2.1\0"
    assert data.count(old) == 1 and len(old) == len(new)
    path.write_bytes(data.replace(old, new))
    return path


def deflated(path: str | os.PathLike, k: int = 0) -> Path:
    """A slice in Deflated Explicit VR Little Endian (the whole dataset zlib-deflated)."""
    return save(ct_dataset(ramp(k=k), k=k, syntax=DeflatedExplicitVRLittleEndian), path)


def big_endian_8bit(path: str | os.PathLike, k: int = 0, vr: str = "OB") -> Path:
    """An 8-bit slice in Explicit VR Big Endian, PixelData written with ``vr`` (OB or OW)."""
    pixels = ramp(k=k, dtype="uint8")
    ds = ct_dataset(pixels, k=k, syntax=ExplicitVRBigEndian)
    raw = pixels.tobytes()
    if vr == "OW":  # OW is a stream of 16-bit words: big endian swaps each byte pair on disk
        raw = raw + b"\0" * (len(raw) % 2)
        raw = np.frombuffer(raw, "<u2").astype(">u2").tobytes()
    ds.PixelData = raw
    ds["PixelData"].VR = vr
    return save(ds, path)


def palette_colour(path: str | os.PathLike, k: int = 0) -> Path:
    """A PALETTE COLOR slice: 8-bit indices into a 256-entry red/green/blue lookup table."""
    ds = ct_dataset(ramp(k=k, dtype="uint8"), k=k)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    lut = np.arange(256, dtype=np.uint16) * 257
    for colour, table in (("Red", lut), ("Green", lut[::-1].copy()), ("Blue", lut // 2)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.astype("<u2").tobytes())
    return save(ds, path)


def short_pixel_element(path: str | os.PathLike, k: int = 0) -> Path:
    """A slice whose PixelData element is complete but holds half the bytes Rows x Columns needs."""
    ds = ct_dataset(ramp(k=k), k=k)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    return save(ds, path)


def cut_file(path: str | os.PathLike, k: int = 0, keep: int = 20) -> Path:
    """A slice whose file ends ``keep`` bytes into the pixel value (an interrupted copy)."""
    path = save(ct_dataset(ramp(k=k), k=k), path)
    data = path.read_bytes()
    n = ramp(k=k).nbytes
    path.write_bytes(data[: len(data) - n + keep])
    return path


def cut_encapsulated(path: str | os.PathLike, k: int = 0) -> Path:
    """An RLE slice whose file ends inside its one compressed fragment (no sequence delimiter)."""
    ds = ct_dataset(ramp(k=k), k=k)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    path = save(ds, path)
    data = path.read_bytes()
    path.write_bytes(data[:-14])
    return path


def bad_rescale(path: str | os.PathLike, slope: str, k: int = 0) -> Path:
    """A slice whose RescaleSlope is written verbatim as ``slope`` (e.g. 'abc', 'NaN')."""
    ds = ct_dataset(ramp(k=k), k=k)
    del ds.RescaleSlope
    path = save(ds, path)
    raw = pydicom.dcmread(path)
    raw.add_new(0x00281053, "DS", "1")
    raw.save_as(path)
    data = path.read_bytes()
    tag = b"\x28\x00\x53\x10DS"
    i = data.index(tag)
    value = slope.encode() + (b" " if len(slope) % 2 else b"")
    data = data[:i] + tag + len(value).to_bytes(2, "little") + value + data[i + 10:]
    path.write_bytes(data)
    return path


def mixed_sizes(folder: str | os.PathLike, odd: int = 2, n: int = 4) -> tuple[list[Path], Path]:
    """A series whose slice ``odd`` (not the first file) is 7x9 while the others are 6x5."""
    paths = []
    for k in range(n):
        pixels = ramp(7, 9, k) if k == odd else ramp(6, 5, k)
        paths.append(save(ct_dataset(pixels, k=k), Path(folder) / f"s{k:02d}.dcm"))
    return paths, paths[odd]
